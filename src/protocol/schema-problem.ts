// A payload that does not match its schema, said as a sentence that names the field (not "/id: Expected string length ...").
import type { TSchema } from "@sinclair/typebox";

/** The first problem TypeBox (or Elysia, which uses it) finds in a value: where, against what, and what was there. */
export interface SchemaProblem {
  path?: string;
  schema?: TSchema;
  value?: unknown;
  message?: string;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** What a number must be, from its bounds. */
function numberRule(schema: TSchema, whole: boolean): string {
  const kind = whole ? "a whole number" : "a number";
  const min =
    schema.minimum ?? (schema.exclusiveMinimum === undefined ? undefined : `above ${schema.exclusiveMinimum}`);
  const max =
    schema.maximum ?? (schema.exclusiveMaximum === undefined ? undefined : `below ${schema.exclusiveMaximum}`);
  if (typeof schema.minimum === "number" && typeof schema.maximum === "number")
    return `${kind} from ${schema.minimum} to ${schema.maximum}`;
  if (min !== undefined) return `${kind}${typeof min === "number" ? ` of at least ${min}` : ` ${min}`}`;
  if (max !== undefined) return `${kind}${typeof max === "number" ? ` of at most ${max}` : ` ${max}`}`;
  return kind;
}

/** What a string must be, from its bounds and form. */
function stringRule(schema: TSchema, value: string): string | undefined {
  const { minLength: min, maxLength: max } = schema as { minLength?: number; maxLength?: number };
  const length = [...value].length;
  if ((min !== undefined && length < min) || (max !== undefined && length > max)) {
    const wanted =
      min !== undefined && max !== undefined
        ? `${min} to ${plural(max, "character")}`
        : min !== undefined
          ? `at least ${plural(min, "character")}`
          : `at most ${plural(max!, "character")}`;
    return `must be ${wanted} long, not ${length}`;
  }
  if (schema.pattern !== undefined || schema.format !== undefined)
    return "has a character or a form that is not allowed there";
  return undefined;
}

/**
 * One sentence for a schema problem: `id must be 8 to 64 characters long, not 1`, `token is missing`,
 * `unexpected field "extra"`. `what` names the whole document when the problem is at its root.
 */
export function describeSchemaProblem(problem: SchemaProblem | undefined, what = "the request"): string {
  if (!problem) return `${what} does not match its schema`;
  const path = problem.path ?? "";
  const name = path.replace(/^\//, "").replaceAll("/", ".").replaceAll("~1", "/").replaceAll("~0", "~");
  const field = name || what;
  const { schema, value } = problem;
  if (problem.message === "Unexpected property")
    return name ? `unexpected field "${name}"` : `${what} has an unexpected field`;
  if (value === undefined) return `${field} is missing`;
  if (!schema) return `${field} is not valid`;
  const consts = (schema.anyOf as TSchema[] | undefined)?.map((s) => s.const).filter((c) => c !== undefined);
  if (schema.const !== undefined) return `${field} must be ${JSON.stringify(schema.const)}`;
  if (consts?.length) return `${field} must be one of ${consts.map((c) => JSON.stringify(c)).join(", ")}`;
  switch (schema.type) {
    case "string": {
      if (typeof value !== "string") return `${field} must be a string`;
      return `${field} ${stringRule(schema, value) ?? "is not valid"}`;
    }
    case "integer":
    case "number":
      return `${field} must be ${numberRule(schema, schema.type === "integer")}`;
    case "boolean":
      return `${field} must be true or false`;
    case "array": {
      if (!Array.isArray(value)) return `${field} must be a list`;
      if (schema.maxItems !== undefined && value.length > schema.maxItems)
        return `${field} may hold at most ${plural(schema.maxItems, "item")}, not ${value.length}`;
      if (schema.minItems !== undefined && value.length < schema.minItems)
        return `${field} must hold at least ${plural(schema.minItems, "item")}`;
      return `${field} is not valid`;
    }
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value)
        ? `${field} is not valid`
        : `${field} must be an object`;
    default:
      return `${field} is not valid`;
  }
}
