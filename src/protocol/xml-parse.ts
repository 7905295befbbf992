// A strict, single-pass XML reader for the API's payloads: linear time, bounded size, count and depth, no DTDs.
import { DecodeError } from "../lib/errors.ts";

/** An element as the payload reader needs it: name, attributes, child elements, and its own text. */
export interface XmlNode {
  name: string;
  attributes: Map<string, string>;
  children: XmlNode[];
  /** The text directly inside this element (entities decoded); child elements' text is not included. */
  text: string;
}

/** Bounds of one document; each is sized well above what a real payload of 64 KiB can need. */
export interface XmlLimits {
  /** Elements in the document. A 64 KiB report holds at most about 3,500 `<port>` elements. */
  maxElements: number;
  /** Nesting depth; no payload nests past 6. */
  maxDepth: number;
  /** Characters in one element's text; the longest field (a process's exe) is 4,096. */
  maxText: number;
  /** Attributes on one element; payloads use at most one (`key`). */
  maxAttributes: number;
  /** Characters of a name or an attribute value. */
  maxName: number;
  maxAttributeValue: number;
}

export const XML_LIMITS: XmlLimits = {
  maxElements: 4096,
  maxDepth: 16,
  maxText: 8192,
  maxAttributes: 8,
  maxName: 64,
  maxAttributeValue: 1024,
};

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

/** XML 1.0's Char production: tab, LF, CR, and the rest of Unicode minus controls, surrogates and U+FFFE/U+FFFF. */
function isXmlChar(code: number): boolean {
  if (code < 0x20) return code === 0x9 || code === 0xa || code === 0xd;
  if (code <= 0xd7ff) return true;
  if (code < 0xe000) return false;
  if (code <= 0xfffd) return true;
  return code >= 0x10000 && code <= 0x10ffff;
}

const isNameStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95; // A-Z a-z _
const isNameChar = (c: number) => isNameStart(c) || (c >= 48 && c <= 57) || c === 45 || c === 46; // 0-9 - .
const isSpace = (c: number) => c === 0x20 || c === 0x9 || c === 0xa || c === 0xd;

/**
 * Parses `text` into its root element, or throws DecodeError naming the first problem. Every character is
 * looked at a bounded number of times (each search for an end marker starts where the last stopped and a
 * missing end refuses the document), so the work is linear in the size, whatever the input.
 */
export function parseXml(text: string, limits: XmlLimits = XML_LIMITS): XmlNode {
  const n = text.length;
  let i = 0;
  let elements = 0;
  const stack: XmlNode[] = [];
  let root: XmlNode | undefined;
  const fail = (why: string): never => {
    throw new DecodeError(`XML is not well-formed: ${why} (at character ${i})`);
  };

  /** Checks every character of text[from, to) is an XML Char (a surrogate only as half of a valid pair). */
  function checkChars(from: number, to: number): void {
    for (let k = from; k < to; k++) {
      const c = text.charCodeAt(k);
      if (c >= 0x20 && c < 0xd800) continue;
      if (c >= 0xd800 && c <= 0xdbff) {
        const low = text.charCodeAt(k + 1);
        if (k + 1 < to && low >= 0xdc00 && low <= 0xdfff) {
          k++;
          continue;
        }
        i = k;
        fail("a lone surrogate");
      }
      if (!isXmlChar(c)) {
        i = k;
        fail(`character U+${c.toString(16).toUpperCase().padStart(4, "0")} is not allowed in XML`);
      }
    }
  }

  /** Decodes entity and character references in text[from, to), which holds no "<". */
  function decodeText(from: number, to: number, max: number, what: string): string {
    checkChars(from, to);
    let out = "";
    let k = from;
    while (k < to) {
      const amp = text.indexOf("&", k);
      const end = amp < 0 || amp >= to ? to : amp;
      out += text.slice(k, end);
      if (out.length > max) fail(`${what} is longer than ${max} characters`);
      if (end === to) break;
      const semi = text.indexOf(";", amp);
      if (semi < 0 || semi >= to || semi - amp > 10) {
        i = amp;
        fail("an unterminated or unknown entity reference");
      }
      const ref = text.slice(amp + 1, semi);
      if (ref.startsWith("#")) {
        const code = /^#x[0-9a-fA-F]{1,6}$/.test(ref)
          ? Number.parseInt(ref.slice(2), 16)
          : /^#[0-9]{1,7}$/.test(ref)
            ? Number(ref.slice(1))
            : -1;
        if (!isXmlChar(code)) {
          i = amp;
          fail(`the character reference &${ref}; is not an XML character`);
        }
        out += String.fromCodePoint(code);
      } else {
        const entity = ENTITIES[ref];
        if (entity === undefined) {
          i = amp;
          fail(`XML refers to an undefined entity &${ref.slice(0, 16)};`);
        }
        out += entity;
      }
      k = semi + 1;
    }
    return out.replace(/\r\n?/g, "\n");
  }

  /** Index of `marker` at or after `from`; a missing one ends the document as truncated. */
  function endOf(marker: string, from: number, what: string): number {
    const at = text.indexOf(marker, from);
    if (at < 0) fail(`${what} is never closed`);
    return at;
  }

  function readName(): string {
    const start = i;
    if (!isNameStart(text.charCodeAt(i))) fail("a name must start with a letter or _");
    while (i < n && isNameChar(text.charCodeAt(i))) {
      if (++i - start > limits.maxName) fail(`a name is longer than ${limits.maxName} characters`);
    }
    // attribute names may carry one prefix (xmlns:x, xml:lang); elements may not
    return text.slice(start, i);
  }

  function skipSpace(): boolean {
    const start = i;
    while (i < n && isSpace(text.charCodeAt(i))) i++;
    return i > start;
  }

  function outsideRoot(from: number, to: number): void {
    for (let k = from; k < to; k++) {
      if (!isSpace(text.charCodeAt(k))) {
        i = k;
        fail(root ? "text after the root element" : "text before the root element");
      }
    }
  }

  if (text.charCodeAt(0) === 0xfeff) i = 1; // a byte order mark
  if (text.startsWith("<?xml", i)) {
    const end = endOf("?>", i, "the XML declaration");
    checkChars(i, end);
    if (text.indexOf("<", i + 1) < end) fail("the XML declaration holds a <");
    i = end + 2;
  }

  while (i < n) {
    const lt = text.indexOf("<", i);
    const end = lt < 0 ? n : lt;
    const parent = stack.at(-1);
    if (end > i) {
      if (parent) {
        const piece = decodeText(i, end, limits.maxText, `the text of <${parent.name}>`);
        if (parent.text.length + piece.length > limits.maxText)
          fail(`the text of <${parent.name}> is longer than ${limits.maxText} characters`);
        parent.text += piece;
      } else outsideRoot(i, end);
    }
    if (lt < 0) break;
    i = lt;
    const next = text.charCodeAt(i + 1);
    if (next === 33 /* ! */) {
      if (text.startsWith("<!--", i)) {
        const close = endOf("-->", i + 4, "a comment");
        checkChars(i + 4, close);
        if (text.indexOf("--", i + 4) < close) fail("a comment holds --");
        i = close + 3;
      } else if (text.startsWith("<![CDATA[", i)) {
        if (!parent) fail("CDATA outside the root element");
        const close = endOf("]]>", i + 9, "a CDATA section");
        checkChars(i + 9, close);
        if (parent!.text.length + (close - i - 9) > limits.maxText)
          fail(`the text of <${parent!.name}> is longer than ${limits.maxText} characters`);
        parent!.text += text.slice(i + 9, close).replace(/\r\n?/g, "\n");
        i = close + 3;
      } else if (/^<!DOCTYPE|^<!ENTITY/i.test(text.slice(i, i + 9))) {
        throw new DecodeError("XML with a DOCTYPE or ENTITY declaration is not accepted");
      } else fail("an unknown <! construct");
    } else if (next === 63 /* ? */) {
      fail("a processing instruction (only the XML declaration, first, is accepted)");
    } else if (next === 47 /* / */) {
      i += 2;
      const name = readName();
      skipSpace();
      if (text.charCodeAt(i) !== 62) fail(`</${name} is not closed by >`);
      i++;
      const open = stack.pop();
      if (!open || open.name !== name) fail(`XML closes <${name}> where it is not open`);
    } else {
      i++;
      const name = readName();
      if (root && stack.length === 0) fail("XML has more than one root element");
      if (++elements > limits.maxElements) fail(`XML has more than ${limits.maxElements} elements`);
      const node: XmlNode = { name, attributes: new Map(), children: [], text: "" };
      for (;;) {
        const spaced = skipSpace();
        const c = text.charCodeAt(i);
        if (c === 62 /* > */ || c === 47 /* / */) break;
        if (i >= n) fail(`<${name}> is never closed`);
        if (!spaced) fail(`the attributes of <${name}> need a space between them`);
        let attribute = readName();
        if (text.charCodeAt(i) === 58 /* : */) {
          i++;
          attribute += `:${readName()}`;
        }
        skipSpace();
        if (text.charCodeAt(i) !== 61 /* = */) fail(`attribute ${attribute} has no value`);
        i++;
        skipSpace();
        const quote = text[i];
        if (quote !== '"' && quote !== "'") fail(`attribute ${attribute}'s value is not quoted`);
        const close = endOf(quote!, i + 1, `attribute ${attribute}'s value`);
        const lt2 = text.indexOf("<", i + 1);
        if (lt2 >= 0 && lt2 < close) fail(`attribute ${attribute}'s value holds a <`);
        const value = decodeText(i + 1, close, limits.maxAttributeValue, `attribute ${attribute}`).replace(
          /[\t\n\r]/g,
          " ",
        );
        if (node.attributes.has(attribute)) fail(`<${name}> repeats attribute ${attribute}`);
        if (node.attributes.size >= limits.maxAttributes)
          fail(`<${name}> has more than ${limits.maxAttributes} attributes`);
        node.attributes.set(attribute, value);
        i = close + 1;
      }
      const selfClosing = text.charCodeAt(i) === 47;
      if (selfClosing) {
        i++;
        if (text.charCodeAt(i) !== 62) fail(`<${name}/ is not closed by >`);
      }
      i++;
      if (parent) parent.children.push(node);
      else root = node;
      if (!selfClosing) {
        stack.push(node);
        if (stack.length > limits.maxDepth)
          throw new DecodeError(`XML is nested deeper than ${limits.maxDepth} levels`);
      }
    }
  }
  if (stack.length > 0) throw new DecodeError(`XML is truncated: <${stack.at(-1)!.name}> is never closed`);
  if (!root) throw new DecodeError("XML has no root element");
  return root;
}
