// XML form of the payloads: built with xmlbuilder2, read back by a strict bounded parser and checked against the same TypeBox schema.
import type { Static, TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import type { create as createDocument } from "xmlbuilder2";

/**
 * xmlbuilder2, loaded at the first XML document built: evaluating it costs about 14 ms, which every CLI
 * client paid before its first knock though it speaks JSON unless told otherwise (issue 23).
 */
let create: typeof createDocument | undefined;
function newDocument() {
  // require, not import(): encodeXml stays synchronous; the bundler still puts xmlbuilder2 in the binary.
  create ??= (require("xmlbuilder2") as { create: typeof createDocument }).create;
  return create({ version: "1.0", encoding: "UTF-8" });
}
import { DecodeError } from "../lib/errors.ts";
import { parseXml, type XmlNode } from "./xml-parse.ts";

/** Largest XML document accepted, in bytes. */
export const MAX_XML_BYTES = 64 * 1024;

export type { Schema as AnnotatedSchema };

export interface DecodeOptions {
  /**
   * Skip the properties (JSON) and elements (XML) an object's schema does not name, instead of refusing
   * them: for answers of a server, which a newer version may extend. What the schema names is checked as
   * strictly; a record's keys (instruction args) are never skipped, nor anything inside a schema marked
   * `exact` (an instruction, which a service runs): those are refused as before.
   */
  ignoreUnknown?: boolean;
}

type Schema = TSchema & {
  type?: string;
  xmlName?: string;
  xmlItem?: string;
  /** The XML form drops this single property's own element: the root element holds its value's fields. */
  xmlUnwrap?: string;
  /** Never read leniently (see DecodeOptions), nor anything inside it. */
  exact?: boolean;
  properties?: Record<string, TSchema>;
  items?: TSchema;
  anyOf?: TSchema[];
  patternProperties?: Record<string, TSchema>;
  const?: unknown;
};

function build(parent: any, name: string, schema: Schema, value: unknown): void {
  if (value === undefined) return;
  if (schema.anyOf && typeof value === "object") {
    const member = schema.anyOf.find((m) => Value.Check(m, value));
    if (member) build(parent, name, member as Schema, value);
    return;
  }
  const element = parent.ele(name);
  if (schema.type === "array") {
    for (const item of value as unknown[]) build(element, schema.xmlItem ?? "item", schema.items as Schema, item);
  } else if (schema.type === "object" && schema.properties) {
    for (const [key, sub] of Object.entries(schema.properties)) build(element, key, sub as Schema, (value as any)[key]);
  } else if (schema.type === "object" && schema.patternProperties) {
    const sub = Object.values(schema.patternProperties)[0] as Schema;
    for (const [key, v] of Object.entries(value as object)) {
      build(element, "entry", sub, v);
      element.last().att("key", key);
    }
  } else {
    element.txt(String(value));
  }
}

/** Encodes a payload as an XML document; the root element is the schema's `xmlName`. */
export function encodeXml<S extends TSchema>(schema: S, value: Static<S>): string {
  const root = (schema as Schema).xmlName ?? "payload";
  const doc = newDocument();
  const unwrap = (schema as Schema).xmlUnwrap;
  if (unwrap)
    build(doc, root, (schema as Schema).properties![unwrap] as Schema, (value as Record<string, unknown>)[unwrap]);
  else build(doc, root, schema as Schema, value);
  return doc.end({ prettyPrint: true });
}

const children = (node: XmlNode) => node.children;

function read(node: XmlNode, schema: Schema, path: string, lenientAbove: boolean): unknown {
  const lenient = lenientAbove && schema.exact !== true;
  if (schema.anyOf) {
    for (const member of schema.anyOf) {
      try {
        const value = read(node, member as Schema, path, lenient);
        if (Value.Check(member, value)) return value;
      } catch {
        // try the next member
      }
    }
    throw new DecodeError(`XML element ${path} matches none of the allowed forms`);
  }
  const container = schema.type === "array" || schema.type === "object";
  if (container && node.text.trim() !== "")
    throw new DecodeError(`XML element ${path} holds text where elements belong`);
  if (!container && node.children.length > 0)
    throw new DecodeError(`XML element ${path} holds elements where a value belongs`);
  const text = node.text.trim();
  switch (schema.type) {
    case "array":
      return children(node).map((child, i) => {
        const item = schema.xmlItem ?? "item";
        if (child.name !== item)
          throw new DecodeError(`XML element ${path} holds <${child.name}> where <${item}> belongs`);
        return read(child, schema.items as Schema, `${path}/${item}[${i}]`, lenient);
      });
    case "object": {
      const out: Record<string, unknown> = {};
      for (const child of children(node)) {
        const key = schema.patternProperties ? child.attributes.get("key") : child.name;
        const sub = schema.properties
          ? Object.hasOwn(schema.properties, child.name)
            ? schema.properties[child.name]
            : undefined
          : Object.values(schema.patternProperties ?? {})[0];
        // An element a newer sender added is skipped when asked to (an answer of a newer server); never a repeated one.
        if (!sub && lenient && schema.properties) continue;
        if (!sub || typeof key !== "string")
          throw new DecodeError(`XML element ${path} has an unexpected <${child.name}>`);
        if (Object.hasOwn(out, key)) throw new DecodeError(`XML element ${path} repeats <${child.name}>`);
        out[key] = read(child, sub as Schema, `${path}/${child.name}`, lenient);
      }
      return out;
    }
    case "integer":
    case "number":
      if (!/^-?\d{1,16}(\.\d{1,16})?$/.test(text))
        throw new DecodeError(`XML element ${path} is not a number: "${text.slice(0, 32)}"`);
      return Number(text);
    case "boolean":
      if (text !== "true" && text !== "false") throw new DecodeError(`XML element ${path} is not true or false`);
      return text === "true";
    default:
      return node.text;
  }
}

/** Decodes and validates an XML document against `schema`; throws DecodeError with the reason. */
export function decodeXml<S extends TSchema>(schema: S, text: string, options: DecodeOptions = {}): Static<S> {
  const lenient = options.ignoreUnknown === true;
  // length first: a string of n UTF-16 units is at least n bytes, so a huge one is refused without encoding it
  if (text.length > MAX_XML_BYTES || Buffer.byteLength(text) > MAX_XML_BYTES)
    throw new DecodeError(`XML is larger than ${MAX_XML_BYTES} bytes`);
  const root = parseXml(text);
  const expected = (schema as Schema).xmlName ?? "payload";
  if (root.name !== expected) throw new DecodeError(`XML root element is <${root.name}>, expected <${expected}>`);
  const unwrap = (schema as Schema).xmlUnwrap;
  const value = unwrap
    ? { [unwrap]: read(root, (schema as Schema).properties![unwrap] as Schema, expected, lenient) }
    : read(root, schema as Schema, expected, lenient);
  if (Value.Check(schema, value)) return value as Static<S>;
  const error = Value.Errors(schema, value).First();
  throw new DecodeError(`XML ${expected}${error?.path || ""}: ${error?.message ?? "does not match the schema"}`);
}
