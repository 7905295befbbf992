// The documents the client decodes while its session request is in flight stay valid for the schemas they warm.
import { expect, test } from "bun:test";
import { warmDecoders } from "../../src/client/index.ts";

test("the made-up offer and status decode: the warm-up walks the same checks as the server's answers", () => {
  expect(warmDecoders()).toBe(true);
  // the client warms them one at a time, each while it waits for the server
  expect(warmDecoders("offer")).toBe(true);
  expect(warmDecoders("status")).toBe(true);
});
