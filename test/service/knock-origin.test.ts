// The origin a knock's first bytes prove: an HTTP head's one Origin line, never a body, a TLS hello or junk.
import { describe, expect, test } from "bun:test";
import { MAX_HEAD_BYTES, readKnockHead } from "../../src/service/knock-origin.ts";

const head = (...lines: string[]) => `${lines.join("\r\n")}\r\n\r\n`;
const S = "https://saas.example";

describe("readKnockHead", () => {
  test("a cors fetch, a POST and a WebSocket handshake prove their Origin", () => {
    expect(readKnockHead(head("GET / HTTP/1.1", "Host: 127.0.0.1:40001", `Origin: ${S}`), false)).toEqual({
      done: true,
      origin: S,
    });
    expect(readKnockHead(head("POST / HTTP/1.1", `origin:${S}`, "Content-Length: 0"), false)).toEqual({
      done: true,
      origin: S,
    });
    expect(
      readKnockHead(head("GET /ab12 HTTP/1.1", "Upgrade: websocket", `ORIGIN:  http://127.0.0.1:8123 `), false),
    ).toEqual({ done: true, origin: "http://127.0.0.1:8123" });
  });

  test("a no-cors GET, a TLS ClientHello, an empty connection and junk prove none", () => {
    expect(readKnockHead(head("GET / HTTP/1.1", "Host: 127.0.0.1:40001", "Accept: */*"), false)).toEqual({
      done: true,
      origin: undefined,
    });
    expect(readKnockHead("\x16\x03\x01\x02\x00\x01", false)).toEqual({ done: true, origin: undefined });
    expect(readKnockHead("", false)).toEqual({ done: false });
    expect(readKnockHead("", true)).toEqual({ done: true, origin: undefined });
    expect(readKnockHead(`hello\r\nOrigin: ${S}\r\n\r\n`, false)).toEqual({ done: true, origin: undefined });
    expect(readKnockHead(`\r\nOrigin: ${S}\r\n\r\n`, false)).toEqual({ done: true, origin: undefined });
  });

  test("Origin: null, two Origin lines, a path or userinfo in it, and an overlong one prove none", () => {
    for (const bad of [
      ["Origin: null"],
      [`Origin: ${S}`, "Origin: https://evil.example"],
      [`Origin: ${S}/x`],
      ["Origin: https://a@b.example"],
      [`Origin: https://${"a".repeat(260)}.example`],
      ["Origin: chrome-extension://abc"],
    ]) {
      expect(readKnockHead(head("GET / HTTP/1.1", ...bad), false)).toEqual({ done: true, origin: undefined });
    }
  });

  test("only the header block counts: an Origin line in a POST body proves nothing", () => {
    const text = `${head("POST / HTTP/1.1", "Content-Type: text/plain")}x\r\nOrigin: ${S}\r\n\r\n`;
    expect(readKnockHead(text, false)).toEqual({ done: true, origin: undefined });
  });

  test("a head still arriving waits; when no more will come, only whole lines count", () => {
    expect(readKnockHead("GE", false)).toEqual({ done: false });
    expect(readKnockHead(`GET / HTTP/1.1\r\nOrigin: ${S}`, false)).toEqual({ done: false });
    // cut off inside the Origin line: it may have gone on ("https://saas.example.evil"), so it proves nothing
    expect(readKnockHead(`GET / HTTP/1.1\r\nOrigin: ${S}`, true)).toEqual({ done: true, origin: undefined });
    expect(readKnockHead(`GET / HTTP/1.1\r\nOrigin: ${S}\r\nCookie: ${"c".repeat(MAX_HEAD_BYTES)}`, true)).toEqual({
      done: true,
      origin: S,
    });
  });
});
