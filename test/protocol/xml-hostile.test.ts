// Hostile XML: the worst bodies within the size limit and not-well-formed ones are refused with a DecodeError.
import { describe, expect, test } from "bun:test";
import { decode, decodeUtf8, encode } from "../../src/protocol/codec.ts";
import { Report } from "../../src/protocol/schemas.ts";
import { DecodeError } from "../../src/lib/errors.ts";
import { HOSTILE_XML, NOT_WELL_FORMED } from "../fixtures/hostile-xml.ts";

const report: Report = {
  process: { pid: 42, ppid: 1, uid: 1000, user: "ann", exe: "/usr/bin/chromium", name: "chromium" },
  claim: { strategy: "server-match", observed: [29170, 29171, 29172], failed: [] },
};
const good = encode(Report, report, "xml");

describe("the worst XML within the size limit is refused", () => {
  for (const [name, body] of Object.entries(HOSTILE_XML)) {
    test(name, () => {
      expect(body.length).toBeGreaterThan(60_000);
      expect(() => decode(Report, body, "xml")).toThrow(DecodeError);
    });
  }
});

describe("not-well-formed XML is refused, not read as valid", () => {
  test("the report they are put into is valid", () => {
    expect(decode(Report, good, "xml")).toEqual(report);
    // what a real report may hold decodes to the same characters
    const fine = good.replace("<name>chromium</name>", "<name>a&amp;b &#x1F600; &#65;\u00e9\ud83d\ude00</name>");
    expect(decode(Report, fine, "xml").process.name).toBe("a&b \u{1F600} A\u00e9\u{1F600}");
  });
  for (const [name, bad] of Object.entries(NOT_WELL_FORMED)) {
    test(name, () => {
      const text = good.replace("<name>chromium</name>", `<name>chromium${bad}</name>`);
      expect(text).not.toBe(good);
      expect(() => decode(Report, text, "xml")).toThrow(/not well-formed|not allowed|not an XML character|surrogate/);
    });
  }
  test("invalid UTF-8 is refused, valid UTF-8 decodes", () => {
    expect(() => decodeUtf8(new Uint8Array([0x3c, 0x61, 0xc3, 0x28, 0x3e]))).toThrow(/not valid UTF-8/);
    expect(() => decodeUtf8(new Uint8Array([0xed, 0xa0, 0x80]))).toThrow(DecodeError); // an encoded surrogate
    expect(decodeUtf8(new TextEncoder().encode("<a>\u00e9</a>"))).toBe("<a>\u00e9</a>");
  });
  test("mixed content and text in containers are refused", () => {
    expect(() => decode(Report, good.replace("<pid>42</pid>", "<pid>4<b/>2</pid>"), "xml")).toThrow(DecodeError);
    expect(() => decode(Report, good.replace("<process>", "<process>junk"), "xml")).toThrow(DecodeError);
  });
});
