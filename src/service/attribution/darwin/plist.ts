// Reads the top-level string entries of an Info.plist, XML or binary (bplist00), with bounds on everything.
import { PlistError } from "../../../lib/errors.ts";

/** Info.plist files are a few KB; anything past this is refused unread. */
export const MAX_PLIST_BYTES = 1 << 20;
const MAX_ENTRIES = 4096;
const MAX_STRING_BYTES = 4096;

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
    if (name.startsWith("#x") || name.startsWith("#X"))
      return String.fromCodePoint(Number.parseInt(name.slice(2), 16) % 0x110000);
    if (name.startsWith("#")) return String.fromCodePoint(Number(name.slice(1)) % 0x110000);
    return ENTITIES[name] ?? whole;
  });
}

/**
 * The top-level dictionary's string values of an XML plist. Values of other types (arrays,
 * nested dictionaries, numbers) are skipped, with their nesting tracked so a nested key is never
 * taken for a top-level one.
 */
export function xmlPlistStrings(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const body = /<plist\b[^>]*>\s*<dict>([\s\S]*)<\/dict>\s*<\/plist>/.exec(text)?.[1];
  if (body === undefined) throw new PlistError("not an XML plist whose top level is a dictionary");
  const token = /<(\/?)(key|string|dict|array|[a-z]+)(\s*\/)?>/g;
  let depth = 0;
  let key: string | undefined;
  let steps = 0;
  for (let m = token.exec(body); m && steps < 4 * MAX_ENTRIES; m = token.exec(body), steps++) {
    const [, closing, tag, selfClosing] = m;
    if (tag === "dict" || tag === "array") {
      if (selfClosing) key = undefined;
      else if (closing) depth--;
      else {
        if (depth === 0) key = undefined;
        depth++;
      }
      continue;
    }
    if (closing || selfClosing) {
      if (depth === 0 && selfClosing) key = undefined; // <true/>, <false/>, <string/>
      continue;
    }
    const end = body.indexOf(`</${tag}>`, token.lastIndex);
    if (end < 0) throw new PlistError(`unclosed <${tag}> in plist`);
    const value = unescapeXml(body.slice(token.lastIndex, end)).slice(0, MAX_STRING_BYTES);
    token.lastIndex = end + tag!.length + 3;
    if (depth !== 0) continue;
    if (tag === "key") key = value;
    else {
      if (tag === "string" && key !== undefined && out.size < MAX_ENTRIES) out.set(key, value);
      key = undefined;
    }
  }
  return out;
}

/**
 * The top-level dictionary's string values of a binary plist (bplist00: a 32-byte trailer gives
 * the offset table; objects start with a marker byte whose high nibble is the type). Strings are
 * ASCII (0x5) or UTF-16BE (0x6); everything else is skipped.
 */
export function binaryPlistStrings(bytes: Uint8Array): Map<string, string> {
  if (bytes.byteLength < 40 || new TextDecoder().decode(bytes.subarray(0, 8)) !== "bplist00") {
    throw new PlistError("not a bplist00 binary plist");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const trailer = bytes.byteLength - 32;
  const offsetSize = view.getUint8(trailer + 6);
  const refSize = view.getUint8(trailer + 7);
  const count = Number(view.getBigUint64(trailer + 8));
  const top = Number(view.getBigUint64(trailer + 16));
  const table = Number(view.getBigUint64(trailer + 24));
  if (![1, 2, 4, 8].includes(offsetSize) || ![1, 2, 4, 8].includes(refSize))
    throw new PlistError("binary plist has bad integer sizes in its trailer");
  if (count < 1 || top >= count || table < 8 || table + count * offsetSize > trailer)
    throw new PlistError("binary plist trailer points outside the file");

  const uint = (at: number, size: number) => {
    if (at + size > trailer) throw new PlistError("binary plist object runs past its end");
    let n = 0;
    for (let i = 0; i < size; i++) n = n * 256 + view.getUint8(at + i);
    return n;
  };
  const offsetOf = (ref: number) => {
    if (ref >= count) throw new PlistError(`binary plist refers to object ${ref} of ${count}`);
    const at = uint(table + ref * offsetSize, offsetSize);
    if (at < 8 || at >= table) throw new PlistError("binary plist object offset outside the object area");
    return at;
  };
  /** An object's length (low nibble, or a following int object when it is 0xF) and where its data starts. */
  const sized = (at: number) => {
    const low = view.getUint8(at) & 0xf;
    if (low !== 0xf) return { length: low, data: at + 1 };
    const marker = uint(at + 1, 1);
    if (marker >> 4 !== 0x1) throw new PlistError("binary plist length is not an integer");
    const size = 1 << (marker & 0xf);
    if (size > 8) throw new PlistError("binary plist length integer too wide");
    return { length: uint(at + 2, size), data: at + 2 + size };
  };
  const stringAt = (ref: number): string | undefined => {
    const at = offsetOf(ref);
    const type = view.getUint8(at) >> 4;
    if (type !== 0x5 && type !== 0x6) return undefined;
    const { length, data } = sized(at);
    const bytesLong = type === 0x5 ? length : 2 * length;
    if (bytesLong > MAX_STRING_BYTES * 2 || data + bytesLong > trailer)
      throw new PlistError("binary plist string runs past its end");
    const raw = bytes.subarray(data, data + bytesLong);
    if (type === 0x5) return new TextDecoder("latin1").decode(raw);
    const units: number[] = [];
    for (let i = 0; i < length; i++) units.push((raw[2 * i]! << 8) | raw[2 * i + 1]!);
    return String.fromCharCode(...units);
  };

  const root = offsetOf(top);
  if (view.getUint8(root) >> 4 !== 0xd) throw new PlistError("binary plist's top object is not a dictionary");
  const { length: entries, data } = sized(root);
  if (entries > MAX_ENTRIES) throw new PlistError(`binary plist dictionary has ${entries} entries`);
  const out = new Map<string, string>();
  for (let i = 0; i < entries; i++) {
    const key = stringAt(uint(data + i * refSize, refSize));
    const value = stringAt(uint(data + (entries + i) * refSize, refSize));
    if (key !== undefined && value !== undefined) out.set(key, value.slice(0, MAX_STRING_BYTES));
  }
  return out;
}

/** Either kind, told apart by the first bytes. Throws PlistError for anything else. */
export function plistStrings(bytes: Uint8Array): Map<string, string> {
  if (bytes.byteLength > MAX_PLIST_BYTES)
    throw new PlistError(`plist of ${bytes.byteLength} bytes is larger than ${MAX_PLIST_BYTES}`);
  if (bytes.byteLength >= 8 && new TextDecoder().decode(bytes.subarray(0, 6)) === "bplist")
    return binaryPlistStrings(bytes);
  return xmlPlistStrings(new TextDecoder().decode(bytes));
}
