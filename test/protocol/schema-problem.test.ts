// Schema problems as sentences: the field by name, the rule it broke, never TypeBox's "/id: Expected ...".
import { describe, expect, test } from "bun:test";
import { Type as T } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { describeSchemaProblem } from "../../src/protocol/schema-problem.ts";

const Schema = T.Object(
  {
    id: T.String({ minLength: 8, maxLength: 20 }),
    count: T.Integer({ minimum: 1, maximum: 5 }),
    name: T.String({ pattern: "^[a-z]+$" }),
    kind: T.Union([T.Literal("a"), T.Literal("b")]),
    list: T.Array(T.String(), { maxItems: 2 }),
    on: T.Boolean(),
  },
  { additionalProperties: false },
);
const good = { id: "abcdefgh", count: 3, name: "abc", kind: "a", list: [], on: true };
const said = (value: unknown) => describeSchemaProblem(Value.Errors(Schema, value).First());

describe("describeSchemaProblem", () => {
  test.each([
    [{ ...good, id: "x" }, "id must be 8 to 20 characters long, not 1"],
    [{ ...good, id: 5 }, "id must be a string"],
    [{ ...good, count: 9 }, "count must be a whole number from 1 to 5"],
    [{ ...good, name: "A b" }, "name has a character or a form that is not allowed there"],
    [{ ...good, kind: "c" }, 'kind must be one of "a", "b"'],
    [{ ...good, list: ["a", "b", "c"] }, "list may hold at most 2 items, not 3"],
    [{ ...good, on: "yes" }, "on must be true or false"],
    [{ ...good, extra: 1 }, 'unexpected field "extra"'],
    [(({ id: _, ...rest }) => rest)(good), "id is missing"],
    ["text", "the request must be an object"],
  ])("%j: %s", (value, sentence) => {
    expect(said(value)).toBe(sentence);
  });

  test("a document with no problem found still gets a sentence", () => {
    expect(describeSchemaProblem(undefined, "the answer")).toBe("the answer does not match its schema");
  });
});
