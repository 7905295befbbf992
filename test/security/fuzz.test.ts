// Bad input never hurts: thousands of malformed requests to every endpoint get a 4xx; the server stays up and links after.
import { describe, expect, test } from "bun:test";
import { transports } from "../../plugins/transport/index.ts";
import { knockTuples } from "../../src/client/knock.ts";
import { signRequest } from "../../src/protocol/signing.ts";
import { backendApi, enrollWith, testServer, testService } from "../helpers.ts";
import { FAKE_PROCESS } from "./tools.ts";

const OFF = { perSecond: 0, burst: 0 };
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const randomText = (n: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(n))).toString("latin1");

const ENTITY_BOMB = `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><report><process>&d;</process></report>`;
const EXTERNAL_ENTITY = `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><report>&x;</report>`;

/** Bodies that are not a valid payload of any endpoint: broken syntax, wrong types, huge or out-of-range numbers. */
function badBody(): { body: string; type: string } {
  const json = "application/json";
  const xml = "application/xml";
  const port = pick([0, -1, 65536, 70000, 1e308, 2 ** 53 + 1, 1.5, "80", null, true]);
  const cases: Array<() => { body: string; type: string }> = [
    () => ({ body: `{"process": {"pid": 1`, type: json }),
    () => ({
      body: randomText(1 + Math.floor(Math.random() * 300)),
      type: pick([json, xml, "text/plain", "application/x-www-form-urlencoded"]),
    }),
    () => ({ body: "", type: json }),
    () => ({ body: "null", type: json }),
    () => ({ body: "[]", type: json }),
    () => ({ body: `"just a string"`, type: json }),
    () => ({ body: `{"process": "x", "claim": 5}`, type: json }),
    () => ({
      body: JSON.stringify({
        process: { ...FAKE_PROCESS, pid: 1e400 },
        claim: { strategy: "server-match", observed: [29170], failed: [] },
      }).replace("null", "1e400"),
      type: json,
    }),
    () => ({
      body: JSON.stringify({
        process: FAKE_PROCESS,
        claim: { strategy: "server-match", observed: [port], failed: [] },
      }),
      type: json,
    }),
    () => ({
      body: JSON.stringify({
        process: FAKE_PROCESS,
        claim: { strategy: "server-match", observed: Array(5000).fill(29170), failed: [] },
      }),
      type: json,
    }),
    () => ({
      body: JSON.stringify({ process: FAKE_PROCESS, claim: { strategy: "enumerate", completions: [] } }),
      type: json,
    }),
    () => ({
      body: JSON.stringify({
        process: { ...FAKE_PROCESS, name: "x".repeat(10_000) },
        claim: { strategy: "server-match", observed: [29170], failed: [] },
      }),
      type: json,
    }),
    () => ({ body: `{"__proto__": {"linked": true}, "constructor": {"prototype": {"x": 1}}}`, type: json }),
    () => ({ body: `${"[".repeat(20_000)}${"]".repeat(20_000)}`, type: json }),
    () => ({ body: `{"acks": [{"id": 5, "ok": "yes", "result": []}]}`, type: json }),
    () => ({ body: `{"acks": []}`, type: json }),
    () => ({ body: `{"name": "Exec", "args": {"cmd": "id"}}`, type: json }),
    () => ({ body: `{"name": "${"a".repeat(65)}"}`, type: json }),
    () => ({ body: `{"name": "log", "args": {"k": 5}}`, type: json }),
    () => ({ body: `{"token": 12345, "name": ["x"]}`, type: json }),
    () => ({ body: `{"token": "short", "name": "x"}`, type: json }),
    () => ({ body: ENTITY_BOMB, type: xml }),
    () => ({ body: EXTERNAL_ENTITY, type: xml }),
    () => ({ body: `<report><process><pid>99999999999999999999</pid></process>`, type: xml }),
    () => ({ body: `<report><process><pid>1</pid></process><claim/></report><report/>`, type: xml }),
    () => ({ body: `${"<a>".repeat(5000)}`, type: xml }),
  ];
  return pick(cases)();
}

const BAD_IDS = [
  "..%2f..%2fetc",
  "x".repeat(65),
  "a b",
  "%00",
  "%zz",
  "id;rm",
  "<script>",
  "AAAAAAAAAAAAAAAAAAAAAA%0d%0aX: y",
  "é",
];
const BAD_QUERIES = [
  "wait=abc",
  "wait=-1",
  "wait=61",
  "wait=1e999",
  "wait=99999999999999999999",
  "since=-5",
  "since=1.5",
  "since=1e400",
  "format=yaml",
  "format=",
  "wait=1&wait=2&wait=x",
  "%zz=1",
  "wait[]=1",
  "format=json&format=xml&format=csv",
];

describe("fuzzing every endpoint", () => {
  test("10,000+ malformed requests: only 4xx, the server stays up, sessions made before still link", async () => {
    const secret = "fuzz-admin-secret-0123456789";
    // Limits off: the point here is the parsers and validators behind them, not the rate limiter.
    const server = await testServer({
      security: {
        adminSecret: secret,
        limits: { reportsPerService: OFF, reportsPerAddress: OFF, sessionsPerAddress: OFF, enrollPerAddress: OFF },
      },
    });
    const service = await testService(server.url);
    const credentials = await enrollWith(server.url, "fuzzer");
    const api = backendApi(server.url);
    const before = await Promise.all(Array.from({ length: 5 }, () => api.createSession()));
    const realId = before[0]!.id;

    type Shot = {
      endpoint: string;
      method: string;
      path: string;
      body?: string;
      type?: string;
      sign?: boolean;
      auth?: string;
    };
    const shots: Array<() => Shot> = [
      () => ({ endpoint: "POST /v1/reports (signed)", method: "POST", path: "/v1/reports", ...badBody(), sign: true }),
      () => ({ endpoint: "POST /v1/reports (unsigned)", method: "POST", path: "/v1/reports", ...badBody() }),
      () => ({
        endpoint: "POST /v1/reports?query",
        method: "POST",
        path: `/v1/reports?${pick(BAD_QUERIES)}`,
        ...badBody(),
        sign: true,
      }),
      () => ({
        endpoint: "POST /v1/links/:id/acks",
        method: "POST",
        path: `/v1/links/${pick(BAD_IDS)}/acks`,
        ...badBody(),
        sign: true,
      }),
      () => ({
        endpoint: "POST /v1/links/:id/acks (unknown id)",
        method: "POST",
        path: `/v1/links/${"L".repeat(22)}/acks`,
        ...badBody(),
        sign: true,
      }),
      () => ({
        endpoint: "GET /v1/links/:id/instructions",
        method: "GET",
        path: `/v1/links/${pick([...BAD_IDS, "L".repeat(22)])}/instructions?${pick(BAD_QUERIES)}`,
        sign: true,
      }),
      () => ({
        endpoint: "GET /v1/sessions/:id",
        method: "GET",
        path: `/v1/sessions/${pick([...BAD_IDS, realId])}?${pick(BAD_QUERIES)}`,
      }),
      () => ({
        endpoint: "POST /v1/sessions/:id/instructions",
        method: "POST",
        path: `/v1/sessions/${pick([realId, ...BAD_IDS])}/instructions`,
        ...badBody(),
      }),
      () => ({
        endpoint: "POST /v1/sessions?query",
        method: "POST",
        path: `/v1/sessions?${pick(BAD_QUERIES.filter((q) => q.includes("format")))}`,
      }),
      () => ({
        endpoint: "GET /v1/sessions?query",
        method: "GET",
        path: `/v1/sessions?${pick(BAD_QUERIES.filter((q) => q.includes("format")))}`,
      }),
      () => ({
        endpoint: "GET /v1/config?query",
        method: "GET",
        path: `/v1/config?${pick(BAD_QUERIES.filter((q) => q.includes("format")))}`,
      }),
      () => ({ endpoint: "POST /v1/enroll", method: "POST", path: "/v1/enroll", ...badBody() }),
      () => ({
        endpoint: "POST /v1/admin/tokens",
        method: "POST",
        path: "/v1/admin/tokens",
        auth: pick(["", "Bearer x", `Bearer ${secret.slice(1)}`, randomText(40)]),
      }),
      () => ({
        endpoint: "GET /v1/admin/services",
        method: "GET",
        path: "/v1/admin/services",
        auth: pick(["", "Basic abc", `Bearer ${secret}\u0000`]),
      }),
      () => ({
        endpoint: "DELETE /v1/admin/services/:id",
        method: "DELETE",
        path: `/v1/admin/services/${pick(BAD_IDS)}`,
        auth: `Bearer ${secret}`,
      }),
      () => ({
        endpoint: "unknown routes and methods",
        method: pick(["PUT", "PATCH", "DELETE", "POST"]),
        path: pick(["/v1/reports", "/v1/config", "/v2/x", "/v1/sessions/x/y/z", "/%2e%2e/etc/passwd"]),
      }),
    ];
    const perEndpoint = new Map<string, { sent: number; statuses: Set<number> }>();
    const unexpected: string[] = [];
    let sent = 0;
    const total = Number(process.env.FUZZ_TOTAL ?? 11_200); // 700 per endpoint kind
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < total) {
          const i = next++;
          const shot = shots[i % shots.length]!();
          const headers: Record<string, string> = {};
          if (shot.type) headers["content-type"] = shot.type;
          if (shot.auth !== undefined) {
            try {
              new Headers({ authorization: shot.auth });
              headers.authorization = shot.auth;
            } catch {
              headers.authorization = "Bearer invalid";
            }
          }
          if (shot.sign)
            Object.assign(
              headers,
              signRequest(credentials, { method: shot.method, path: shot.path, body: shot.body ?? "" }),
            );
          let response: Response;
          try {
            // A deadline on every request: an endpoint that never answers is a finding, not a hung test.
            response = await fetch(`${server.url}${shot.path}`, {
              method: shot.method,
              headers,
              body: shot.method === "GET" ? undefined : shot.body,
              signal: AbortSignal.timeout(10_000),
            });
            await response.arrayBuffer();
          } catch (error) {
            unexpected.push(
              `${shot.method} ${shot.path} ${shot.type ?? ""} ${(shot.body ?? "").slice(0, 80)} -> ${(error as Error).name}: ${(error as Error).message}`,
            );
            continue;
          }
          sent++;
          const entry = perEndpoint.get(shot.endpoint) ?? { sent: 0, statuses: new Set() };
          entry.sent++;
          entry.statuses.add(response.status);
          perEndpoint.set(shot.endpoint, entry);
          if (response.status < 400 || response.status > 499)
            unexpected.push(
              `${shot.method} ${shot.path} ${shot.type ?? ""} ${(shot.body ?? "").slice(0, 80)} -> ${response.status}`,
            );
        }
      }),
    );
    // A few oversized bodies (2 MB, over the 1 MB limit) to the body-taking endpoints.
    for (const path of [
      "/v1/reports",
      "/v1/enroll",
      `/v1/sessions/${realId}/instructions`,
      `/v1/links/${"L".repeat(22)}/acks`,
    ]) {
      for (let i = 0; i < 5; i++) {
        const response = await fetch(`${server.url}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "[".repeat(2 * 1024 * 1024),
          signal: AbortSignal.timeout(10_000),
        });
        await response.arrayBuffer();
        sent++;
        if (response.status < 400 || response.status > 499) unexpected.push(`oversized ${path} -> ${response.status}`);
      }
    }
    console.log(
      `fuzz: ${sent} requests; ${[...perEndpoint].map(([e, v]) => `${e}: ${v.sent} -> ${[...v.statuses].sort().join("/")}`).join("; ")}`,
    );
    expect(unexpected.slice(0, 20)).toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(10_000);
    for (const [, entry] of perEndpoint) expect(entry.sent).toBeGreaterThanOrEqual(600);

    // Still up, and the sessions asked for before the fuzz still link.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    for (const offer of before) {
      await knockTuples(transports.tcp, offer.tuples, { settleMs: 2, origin: new URL(server.url).origin });
      const status = await api.status(offer.id, { seconds: 10, since: 0 });
      expect(status.state).toBe("linked");
      await Bun.sleep(1100); // past the service's duplicate window, so the next code's ports count afresh
    }
    expect(service.reports.filter((r) => r.answer?.linked).length).toBe(5);
  }, 600_000);
});
