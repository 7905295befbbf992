// Knock codes: shape, strength, refused ports, randomness of the draw.
import { describe, expect, test } from "bun:test";
import { ConfigError } from "../../src/lib/errors.ts";
import { codeBits, codeKey, drawCode, randomId, validateCodeSpace } from "../../src/protocol/code.ts";
import { BROWSER_REFUSED_PORTS } from "../../src/lib/ports.ts";
import { DEFAULT_RANGE, ephemeralOverlaps, refusedPortIn } from "../../src/protocol/ports.ts";

describe("code space", () => {
  test("the default 3x4 code over 64 ports is about 41.6 bits", () => {
    expect(codeBits(64, 12)).toBeCloseTo(41.6, 1);
    expect(validateCodeSpace(DEFAULT_RANGE, { tuples: 3, portsPerTuple: 4 })).toBeCloseTo(41.6, 1);
  });

  test("the default range holds no browser-refused port and no ephemeral port", () => {
    expect(refusedPortIn(DEFAULT_RANGE)).toBeUndefined();
    expect(ephemeralOverlaps(DEFAULT_RANGE)).toEqual([]);
    for (let p = DEFAULT_RANGE.start; p <= DEFAULT_RANGE.end; p++) expect(BROWSER_REFUSED_PORTS.has(p)).toBe(false);
  });

  test("a range holding a refused port is rejected, naming the port", () => {
    expect(() => validateCodeSpace({ start: 5990, end: 6100 }, { tuples: 3, portsPerTuple: 4 })).toThrow(/port 6000/);
    expect(() => validateCodeSpace({ start: 10_050, end: 10_100 }, { tuples: 3, portsPerTuple: 4 })).toThrow(
      /port 10080/,
    );
  });

  test("a range a service would refuse is refused at the server: below 1024, or inside a default ephemeral range", () => {
    const shape = { tuples: 3, portsPerTuple: 4 };
    expect(() => validateCodeSpace({ start: 900, end: 963 }, shape)).toThrow(/starts below 1024/);
    expect(() => validateCodeSpace({ start: 40_000, end: 59_999 }, shape)).toThrow(
      /ephemeral ports of Linux 32768-60999/,
    );
    expect(() => validateCodeSpace({ start: 61_100, end: 61_163 }, shape)).toThrow(
      /Windows 49152-65535, macOS 49152-65535/,
    );
    expect(validateCodeSpace({ start: 1024, end: 1087 }, shape)).toBeGreaterThan(32);
    expect(validateCodeSpace({ start: 32_704, end: 32_767 }, shape)).toBeGreaterThan(32);
  });

  test("a weak code space is refused unless forced", () => {
    const range = { start: 29_170, end: 29_185 };
    const shape = { tuples: 2, portsPerTuple: 2 };
    expect(() => validateCodeSpace(range, shape)).toThrow(ConfigError);
    expect(() => validateCodeSpace(range, shape)).toThrow(/bits/);
    expect(validateCodeSpace(range, shape, true)).toBeCloseTo(Math.log2(1820), 5);
  });

  test("a code longer than the range is refused", () => {
    expect(() => validateCodeSpace({ start: 29_170, end: 29_175 }, { tuples: 3, portsPerTuple: 4 }, true)).toThrow(
      /at least 12 ports/,
    );
  });
});

describe("drawing codes", () => {
  const range = { start: 29_170, end: 29_233 };
  const shape = { tuples: 3, portsPerTuple: 4 };

  test("a code has the shape asked for, distinct ports, all in the range", () => {
    for (let i = 0; i < 500; i++) {
      const code = drawCode(range, shape);
      expect(code.length).toBe(3);
      for (const tuple of code) expect(tuple.length).toBe(4);
      const ports = code.flat();
      expect(new Set(ports).size).toBe(12);
      for (const p of ports) expect(p >= range.start && p <= range.end).toBe(true);
    }
  });

  test("codes do not repeat and every port of the range gets used", () => {
    const keys = new Set<string>();
    const used = new Map<number, number>();
    for (let i = 0; i < 5000; i++) {
      const ports = drawCode(range, shape).flat();
      keys.add(codeKey(ports));
      for (const p of ports) used.set(p, (used.get(p) ?? 0) + 1);
    }
    expect(keys.size).toBe(5000);
    expect(used.size).toBe(64);
    // 60,000 draws over 64 ports: about 937 each; a biased draw would leave some ports far off.
    for (const count of used.values()) expect(count).toBeGreaterThan(700);
  });

  test("the key of a code ignores order and duplicates cannot produce another key", () => {
    expect(codeKey([3, 1, 2])).toBe(codeKey([2, 3, 1]));
    expect(codeKey([4307])).not.toBe(codeKey([43076]));
  });

  test("session ids are 128-bit and unique", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => randomId(16)));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(Buffer.from(id, "base64url").length).toBe(16);
  });
});

describe("ids typed on command lines", () => {
  test("service ids never start with - or _ (pkipc admin revoke ID would read one as an option)", async () => {
    const { randomWordId } = await import("../../src/protocol/code.ts");
    const ids = Array.from({ length: 20_000 }, () => randomWordId(12));
    expect(ids.filter((id) => !/^[A-Za-z0-9][A-Za-z0-9_-]{15}$/.test(id))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
