// The JSON and XML forms: round trips, and every kind of bad document rejected with a reason.
import { describe, expect, test } from "bun:test";
import { DecodeError } from "../../src/lib/errors.ts";
import { decode, encode, negotiate } from "../../src/protocol/codec.ts";
import { PulledInstructions, Report, ServiceConfig, SessionOffer, SessionStatus } from "../../src/protocol/schemas.ts";
import { MAX_XML_BYTES } from "../../src/protocol/xml.ts";

const offer: SessionOffer = {
  id: "AbCdEfGhIjKlMnOpQrStUv",
  tuples: [
    [29_170, 29_201, 29_180, 29_233],
    [29_171, 29_199, 29_202, 29_190],
    [29_172, 29_173, 29_174, 29_175],
  ],
  expiresAt: "2026-11-25T10:00:00.000Z",
  ttlMs: 30_000,
  settleMs: 2,
};
const status: SessionStatus = {
  id: offer.id,
  state: "linked",
  version: 3,
  expiresAt: offer.expiresAt,
  linkedAt: "2026-11-25T09:59:40.123Z",
  process: { pid: 4242, ppid: 1, uid: 1000, user: 'ana <&> "b"', exe: "/usr/lib/chromium/chromium", name: "chromium" },
  instructions: [{ id: "i1", name: "log", state: "done", result: "ok & fine" }],
};
const report: Report = {
  process: status.process!,
  claim: {
    strategy: "enumerate",
    completions: [
      [1, 2, 3],
      [1, 2, 4],
    ],
  },
};

describe("round trips", () => {
  for (const format of ["json", "xml"] as const) {
    test(`${format}: session offer, status, report and config survive encode then decode`, () => {
      expect(decode(SessionOffer, encode(SessionOffer, offer, format), format)).toEqual(offer);
      expect(decode(SessionStatus, encode(SessionStatus, status, format), format)).toEqual(status);
      expect(decode(Report, encode(Report, report, format), format)).toEqual(report);
      const config: ServiceConfig = {
        range: { start: 1, end: 64 },
        tuples: 3,
        portsPerTuple: 4,
        ttlMs: 30_000,
        settleMs: 2,
        idleMs: 250,
        bindFailure: "server-match",
        maxCompletions: 2048,
        maxMissing: 4,
        maxFailed: 16,
      };
      expect(decode(ServiceConfig, encode(ServiceConfig, config, format), format)).toEqual(config);
    });
  }

  test("the XML session form is the documented one", () => {
    const xml = encode(SessionOffer, offer, "xml");
    expect(xml).toContain("<session>");
    expect(xml).toContain("<tuple>");
    expect(xml).toContain("<port>29170</port>");
    expect(xml).toContain(`<id>${offer.id}</id>`);
  });
});

describe("bad XML is rejected", () => {
  const good = encode(SessionOffer, offer, "xml");
  const cases: Record<string, string> = {
    truncated: good.slice(0, good.length / 2),
    "cut mid-tag": good.slice(0, good.indexOf("</tuples>") + 4),
    "not XML": "this is not xml",
    empty: "",
    "two roots": "<session/><session/>",
    "wrong root": good.replaceAll("session>", "sesion>"),
    "entity declaration": `<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x "${"A".repeat(100)}">]><session><id>&x;</id></session>`,
    "billion laughs": `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><session>&lol2;</session>`,
    "external entity": `<!DOCTYPE s [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><session>&xxe;</session>`,
    "undefined entity": good.replace("<ttlMs>30000", "<ttlMs>&foo;30000"),
    "unknown element": good.replace("<ttlMs>", "<evil>1</evil><ttlMs>"),
    "repeated element": good.replace("<ttlMs>30000</ttlMs>", "<ttlMs>30000</ttlMs><ttlMs>1</ttlMs>"),
    "missing element": good.replace(/<settleMs>.*<\/settleMs>/, ""),
    "port out of range": good.replace("<port>29170</port>", "<port>70000</port>"),
    "not a number": good.replace("<port>29170</port>", "<port>0x7000</port>"),
    "huge number": good.replace("<port>29170</port>", `<port>${"9".repeat(40)}</port>`),
    "deep nesting": `<session>${"<a>".repeat(50)}${"</a>".repeat(50)}</session>`,
    oversized: `<session><id>${"x".repeat(MAX_XML_BYTES)}</id></session>`,
  };
  for (const [name, text] of Object.entries(cases)) {
    test(name, () => {
      expect(() => decode(SessionOffer, text, "xml")).toThrow(DecodeError);
    });
  }
});

describe("bad JSON is rejected", () => {
  const cases: Record<string, string> = {
    malformed: '{"id":',
    "wrong type": JSON.stringify({ ...offer, ttlMs: "soon" }),
    "extra field": JSON.stringify({ ...offer, admin: true }),
    "port out of range": JSON.stringify({ ...offer, tuples: [[0]] }),
    "not an object": "[]",
    oversized: JSON.stringify({ ...offer, id: "x".repeat(2 * 1024 * 1024) }),
  };
  for (const [name, text] of Object.entries(cases)) {
    test(name, () => {
      expect(() => decode(SessionOffer, text, "json")).toThrow(DecodeError);
    });
  }
});

test("format negotiation: the query wins, then Accept, then JSON", () => {
  expect(negotiate("xml", "application/json")).toBe("xml");
  expect(negotiate(undefined, "application/xml")).toBe("xml");
  expect(negotiate(undefined, "text/xml;q=0.9")).toBe("xml");
  expect(negotiate(undefined, "application/json, application/xml")).toBe("json");
  expect(negotiate(undefined, undefined)).toBe("json");
  expect(negotiate("yaml", "*/*")).toBe("json");
});

describe("answers of a newer server: what it added is skipped, what this version knows is still checked", () => {
  const lenient = { ignoreUnknown: true } as const;
  // A status as a later version might send it: a new top-level field, a new field inside the process and an instruction.
  const newer = {
    ...status,
    mood: "cheerful",
    process: { ...status.process, cgroup: "/user.slice" },
    instructions: [{ ...status.instructions[0], attempts: 2 }],
  };

  test("JSON: the unknown fields are dropped, the known ones kept", () => {
    expect(() => decode(SessionStatus, JSON.stringify(newer), "json")).toThrow(DecodeError);
    expect(decode(SessionStatus, JSON.stringify(newer), "json", lenient)).toEqual(status);
  });

  test("XML: the unknown elements are skipped, the known ones kept", () => {
    const xml = encode(SessionStatus, status, "xml").replace("<state>", "<mood>cheerful</mood><state>");
    expect(xml).toContain("<mood>");
    expect(() => decode(SessionStatus, xml, "xml")).toThrow(DecodeError);
    expect(decode(SessionStatus, xml, "xml", lenient)).toEqual(status);
  });

  test("a known field that is wrong is refused all the same, in either format", () => {
    const wrong = JSON.stringify({ ...newer, version: "three" });
    expect(() => decode(SessionStatus, wrong, "json", lenient)).toThrow(/version/);
    const badState = JSON.stringify({ ...newer, state: "teleported" });
    expect(() => decode(SessionStatus, badState, "json", lenient)).toThrow(DecodeError);
    const xml = encode(SessionStatus, status, "xml").replace("<version>3</version>", "<version>x</version>");
    expect(() => decode(SessionStatus, xml, "xml", lenient)).toThrow(DecodeError);
    // a repeated element is not "unknown": still refused
    const twice = encode(SessionStatus, status, "xml").replace(
      "<state>linked</state>",
      "<state>linked</state><state>linked</state>",
    );
    expect(() => decode(SessionStatus, twice, "xml", lenient)).toThrow(/repeats/);
  });
});

describe("answers of a newer server: what a service runs is never read leniently", () => {
  const lenient = { ignoreUnknown: true } as const;
  const pulled = { instructions: [{ id: "i1", name: "key", args: { path: "/tmp/x" } }] };

  test("an instruction's args are data: a name this version refuses is refused, not dropped (JSON and XML)", () => {
    const badArg = {
      instructions: [{ ...pulled.instructions[0], args: { path: "/tmp/x", "mode:exclusive": "true" } }],
    };
    expect(() => decode(PulledInstructions, JSON.stringify(badArg), "json", lenient)).toThrow(DecodeError);
    const xml = encode(PulledInstructions, pulled, "xml").replace(
      "</args>",
      '<entry key="mode:exclusive">true</entry></args>',
    );
    expect(xml).toContain("mode:exclusive");
    expect(() => decode(PulledInstructions, xml, "xml", lenient)).toThrow(DecodeError);
  });

  test("a field a later server adds to an instruction (a constraint this version would not keep) refuses the answer", () => {
    const constrained = { instructions: [{ ...pulled.instructions[0], notBefore: "2027-01-01T00:00:00Z" }] };
    expect(() => decode(PulledInstructions, JSON.stringify(constrained), "json", lenient)).toThrow(DecodeError);
    const xml = encode(PulledInstructions, pulled, "xml").replace("<args>", "<notBefore>2027</notBefore><args>");
    expect(() => decode(PulledInstructions, xml, "xml", lenient)).toThrow(DecodeError);
    // beside them, the answer's own new fields are still skipped
    const extended = JSON.stringify({ ...pulled, cursor: 7 });
    expect(decode(PulledInstructions, extended, "json", lenient)).toEqual(pulled);
  });
});
