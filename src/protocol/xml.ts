// XML form of the payloads: built with xmlbuilder2, read back strictly and checked against the same TypeBox schema.
import type { Static, TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { create } from "xmlbuilder2";
import { DecodeError } from "../lib/errors.ts";

/** Largest XML document accepted, in bytes. */
export const MAX_XML_BYTES = 64 * 1024;
const MAX_DEPTH = 16;

type Schema = TSchema & {
  type?: string;
  xmlName?: string;
  xmlItem?: string;
  properties?: Record<string, TSchema>;
  items?: TSchema;
  anyOf?: TSchema[];
  patternProperties?: Record<string, TSchema>;
  const?: unknown;
};

interface XmlElement {
  nodeName: string;
  nodeType: number;
  textContent: string | null;
  childNodes: ArrayLike<XmlElement>;
}

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
  const doc = create({ version: "1.0", encoding: "UTF-8" });
  build(doc, root, schema as Schema, value);
  return doc.end({ prettyPrint: true });
}

const ENTITY = /&(?!(?:lt|gt|amp|quot|apos|#\d{1,7}|#x[0-9a-fA-F]{1,6});)/;

/**
 * Rejects what xmlbuilder2's lenient parser would accept: DTDs and entities (no expansion attacks),
 * unbalanced or truncated tags, text outside the root, more than one root.
 */
function checkWellFormed(text: string): void {
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw new DecodeError("XML with a DOCTYPE or ENTITY declaration is not accepted");
  if (ENTITY.test(text.replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, ""))) throw new DecodeError("XML refers to an undefined entity");
  const token = /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<\?[\s\S]*?\?>|<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.:-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>|<|[^<]+/g;
  const stack: string[] = [];
  let roots = 0;
  for (const match of text.matchAll(token)) {
    const [whole, closing, name, , selfClosing] = match;
    if (whole === "<") throw new DecodeError(`XML is malformed near character ${match.index}`);
    if (name === undefined) {
      if (stack.length === 0 && !/^\s*$/.test(whole) && !whole.startsWith("<?") && !whole.startsWith("<!--")) {
        throw new DecodeError("XML has text outside its root element");
      }
      continue;
    }
    if (closing) {
      if (stack.pop() !== name) throw new DecodeError(`XML closes <${name}> where it is not open`);
      continue;
    }
    if (stack.length === 0 && ++roots > 1) throw new DecodeError("XML has more than one root element");
    if (!selfClosing) stack.push(name);
    if (stack.length > MAX_DEPTH) throw new DecodeError(`XML is nested deeper than ${MAX_DEPTH} levels`);
  }
  if (stack.length > 0) throw new DecodeError(`XML is truncated: <${stack.at(-1)}> is never closed`);
  if (roots === 0) throw new DecodeError("XML has no root element");
}

function elements(node: XmlElement): XmlElement[] {
  return Array.from(node.childNodes).filter((c) => c.nodeType === 1);
}

function read(node: XmlElement, schema: Schema, path: string): unknown {
  if (schema.anyOf) {
    for (const member of schema.anyOf) {
      try {
        const value = read(node, member as Schema, path);
        if (Value.Check(member, value)) return value;
      } catch {
        // try the next member
      }
    }
    throw new DecodeError(`XML element ${path} matches none of the allowed forms`);
  }
  const text = (node.textContent ?? "").trim();
  switch (schema.type) {
    case "array":
      return elements(node).map((child, i) => {
        const item = schema.xmlItem ?? "item";
        if (child.nodeName !== item) throw new DecodeError(`XML element ${path} holds <${child.nodeName}> where <${item}> belongs`);
        return read(child, schema.items as Schema, `${path}/${item}[${i}]`);
      });
    case "object": {
      const out: Record<string, unknown> = {};
      for (const child of elements(node)) {
        const key = schema.patternProperties ? (child as any).getAttribute?.("key") : child.nodeName;
        const sub = schema.properties
          ? schema.properties[child.nodeName]
          : Object.values(schema.patternProperties ?? {})[0];
        if (!sub || typeof key !== "string") throw new DecodeError(`XML element ${path} has an unexpected <${child.nodeName}>`);
        if (Object.hasOwn(out, key)) throw new DecodeError(`XML element ${path} repeats <${child.nodeName}>`);
        out[key] = read(child, sub as Schema, `${path}/${child.nodeName}`);
      }
      return out;
    }
    case "integer":
    case "number":
      if (!/^-?\d{1,16}(\.\d{1,16})?$/.test(text)) throw new DecodeError(`XML element ${path} is not a number: "${text.slice(0, 32)}"`);
      return Number(text);
    case "boolean":
      if (text !== "true" && text !== "false") throw new DecodeError(`XML element ${path} is not true or false`);
      return text === "true";
    default:
      return node.textContent ?? "";
  }
}

/** Decodes and validates an XML document against `schema`; throws DecodeError with the reason. */
export function decodeXml<S extends TSchema>(schema: S, text: string): Static<S> {
  if (Buffer.byteLength(text) > MAX_XML_BYTES) throw new DecodeError(`XML is larger than ${MAX_XML_BYTES} bytes`);
  checkWellFormed(text);
  let root: XmlElement;
  try {
    root = create(text).root().node as unknown as XmlElement;
  } catch (error) {
    throw new DecodeError("XML could not be parsed", { cause: error });
  }
  const expected = (schema as Schema).xmlName ?? "payload";
  if (root.nodeName !== expected) throw new DecodeError(`XML root element is <${root.nodeName}>, expected <${expected}>`);
  const value = read(root, schema as Schema, expected);
  if (Value.Check(schema, value)) return value as Static<S>;
  const error = Value.Errors(schema, value).First();
  throw new DecodeError(`XML ${expected}${error?.path || ""}: ${error?.message ?? "does not match the schema"}`);
}
