// One codec for both wire formats: JSON and XML share the TypeBox schema, and decoding always validates.
import { describeSchemaProblem } from "./schema-problem.ts";
import type { Static, TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { DecodeError } from "../lib/errors.ts";
import { type AnnotatedSchema, type DecodeOptions, decodeXml, encodeXml } from "./xml.ts";

export type { DecodeOptions } from "./xml.ts";

export type Format = "json" | "xml";

export const CONTENT_TYPES: Record<Format, string> = {
  json: "application/json; charset=utf-8",
  xml: "application/xml; charset=utf-8",
};

/** Largest JSON document a decoder accepts, in bytes. */
export const MAX_JSON_BYTES = 1024 * 1024;

/** Deepest nesting of arrays and objects a JSON document may have; no payload of the API nests past 6. */
export const MAX_JSON_DEPTH = 32;

/**
 * JSON.parse behind a size and nesting bound. A body like 20,000 nested "[" parses quickly but costs
 * Elysia's validation time that grows with the square of its depth (20 s at 20,000): refuse it first.
 */
export function parseJson(text: string): unknown {
  if (text.length > MAX_JSON_BYTES) throw new DecodeError(`JSON is larger than ${MAX_JSON_BYTES} bytes`);
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > MAX_JSON_DEPTH) throw new DecodeError(`JSON nests deeper than ${MAX_JSON_DEPTH} levels`);
    } else if (c === 93 || c === 125) depth--;
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new DecodeError("JSON could not be parsed", { cause: error });
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A body's bytes as text; invalid UTF-8 is refused (a lenient decoder would turn it into U+FFFD and read on). */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch (error) {
    throw new DecodeError("the body is not valid UTF-8", { cause: error });
  }
}

/** Encodes a payload in the given format. */
export function encode<S extends TSchema>(schema: S, value: Static<S>, format: Format): string {
  return format === "xml" ? encodeXml(schema, value) : JSON.stringify(value);
}

/**
 * Deletes, in place, the properties of `value` that its object schema does not name, and goes on into the
 * ones it does and into array items. Never into a record (its keys are data: an instruction's args), a
 * union, or a schema marked `exact`: what is unknown there stays, and the check that follows refuses it.
 */
function dropUnknown(schema: AnnotatedSchema, value: unknown): void {
  if (schema.exact === true || typeof value !== "object" || value === null) return;
  if (Array.isArray(value)) {
    if (schema.type === "array" && schema.items)
      for (const item of value) dropUnknown(schema.items as AnnotatedSchema, item);
    return;
  }
  if (schema.type !== "object" || !schema.properties) return;
  const object = value as Record<string, unknown>;
  for (const key of Object.keys(object)) {
    const sub = Object.hasOwn(schema.properties, key) ? schema.properties[key] : undefined;
    if (sub === undefined) delete object[key];
    else dropUnknown(sub as AnnotatedSchema, object[key]);
  }
}

/**
 * Decodes and validates a document; throws DecodeError saying what is wrong. Requests are decoded strictly;
 * clients pass `ignoreUnknown` for a server's answers, so that a newer server's added fields do not break them.
 */
export function decode<S extends TSchema>(
  schema: S,
  text: string,
  format: Format,
  options: DecodeOptions = {},
): Static<S> {
  if (format === "xml") return decodeXml(schema, text, options);
  if (Buffer.byteLength(text) > MAX_JSON_BYTES) throw new DecodeError(`JSON is larger than ${MAX_JSON_BYTES} bytes`);
  const value = parseJson(text);
  // Check is several times cheaper than Errors; the error list is only worth building for a bad document.
  if (Value.Check(schema, value)) return value as Static<S>;
  if (options.ignoreUnknown) {
    // The value was just parsed: nobody else holds it. What is left is checked again, all of it.
    dropUnknown(schema as AnnotatedSchema, value);
    if (Value.Check(schema, value)) return value as Static<S>;
  }
  const problem = Value.Errors(schema, value).First();
  throw new DecodeError(`JSON: ${describeSchemaProblem(problem, "the document")}`);
}

/**
 * The format a request asks for: `?format=` wins, then the Accept header by its q-values (XML when an XML
 * type is preferred to JSON; on a tie, the one named first), then JSON.
 */
export function negotiate(formatParam: string | undefined, accept: string | null | undefined): Format {
  if (formatParam === "xml" || formatParam === "json") return formatParam;
  if (!accept || accept === "*/*") return "json"; // most requests: no Accept, or curl's
  let best: { format: Format; q: number } | undefined;
  // bounded: a header of thousands of entries is read up to its first 32
  for (const entry of (accept ?? "").toLowerCase().split(",", 32)) {
    const [type = "", ...params] = entry.split(";").map((p) => p.trim());
    const format: Format | undefined = /^(application|text)\/xml$/.test(type)
      ? "xml"
      : type === "application/json"
        ? "json"
        : undefined;
    if (!format) continue;
    const qParam = params.find((p) => p.startsWith("q="));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q) || q <= 0 || q > 1) continue;
    if (!best || q > best.q) best = { format, q };
  }
  return best?.format ?? "json";
}
