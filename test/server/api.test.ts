// The HTTP API on a real socket: documents, formats, long polls, and clear 4xx answers to bad requests.
import { describe, expect, test } from "bun:test";
import { testServer } from "../helpers.ts";

/** The SaaS backend's credential for a test server. */
const auth = (server: { apiKey: string }) => ({ authorization: `Bearer ${server.apiKey}` });

async function json(response: Response) {
  return { status: response.status, body: (await response.json()) as any };
}

describe("documents", () => {
  test("healthz answers", async () => {
    const server = await testServer();
    expect(await json(await fetch(`${server.url}/healthz`))).toMatchObject({
      status: 200,
      body: { ok: true, store: "memory" },
    });
  });

  test("the OpenAPI document lists every route", async () => {
    const server = await testServer();
    const { status, body } = await json(await fetch(`${server.url}/openapi/json`));
    expect(status).toBe(200);
    for (const path of [
      "/v1/config",
      "/v1/sessions",
      "/v1/sessions/{id}",
      "/v1/sessions/{id}/instructions",
      "/v1/reports",
      "/v1/links/{linkId}/acks",
    ]) {
      expect(Object.keys(body.paths)).toContain(path);
    }
  });

  test("config tells a service the range, shape, timing and strategy", async () => {
    const server = await testServer();
    const { body } = await json(await fetch(`${server.url}/v1/config`));
    expect(body).toEqual({
      range: server.config.range,
      tuples: 3,
      portsPerTuple: 4,
      ttlMs: 30_000,
      settleMs: 0,
      idleMs: 250,
      bindFailure: "server-match",
      maxCompletions: 2048,
      maxMissing: 3,
      maxFailed: 16,
    });
    const xml = await (await fetch(`${server.url}/v1/config?format=xml`)).text();
    expect(xml).toContain(`<start>${server.config.range.start}</start>`);
  });
});

describe("sessions", () => {
  test("POST issues distinct sessions with 128-bit ids and codes in the range; GET creates none", async () => {
    const server = await testServer();
    const a = await json(await fetch(`${server.url}/v1/sessions`, { method: "POST", headers: auth(server) }));
    const b = await json(await fetch(`${server.url}/v1/sessions`, { method: "POST", headers: auth(server) }));
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    // A GET must not change state: an <img src> on any page could otherwise make sessions.
    expect((await fetch(`${server.url}/v1/sessions`, { headers: auth(server) })).status).toBe(404);
    expect(a.body.id).not.toBe(b.body.id);
    expect(Buffer.from(a.body.id, "base64url").length).toBeGreaterThanOrEqual(16);
    for (const port of a.body.tuples.flat())
      expect(port >= server.config.range.start && port <= server.config.range.end).toBe(true);
  });

  test("a long poll returns when the session expires, and not before", async () => {
    const server = await testServer({ ttlMs: 1000 });
    const { body } = await json(await fetch(`${server.url}/v1/sessions`, { method: "POST", headers: auth(server) }));
    const status = await json(await fetch(`${server.url}/v1/sessions/${body.id}?wait=10&since=0`));
    expect(status.body.state).toBe("expired");
  });

  test("a long poll returns at once when the version is already past `since`", async () => {
    const server = await testServer();
    const { body } = await json(await fetch(`${server.url}/v1/sessions`, { method: "POST", headers: auth(server) }));
    await fetch(`${server.url}/v1/sessions/${body.id}/instructions`, {
      method: "POST",
      body: JSON.stringify({ name: "log" }),
      headers: { "content-type": "application/json", ...auth(server) },
    });
    const status = await json(
      await fetch(`${server.url}/v1/sessions/${body.id}?wait=30&since=0`, { headers: auth(server) }),
    );
    expect(status.body).toMatchObject({
      state: "pending",
      version: 1,
      instructions: [{ name: "log", state: "queued" }],
    });
  });

  test("knowing a code gives no access: a status needs the session id", async () => {
    const server = await testServer();
    const { body } = await json(await fetch(`${server.url}/v1/sessions`, { method: "POST", headers: auth(server) }));
    const byCode = await fetch(`${server.url}/v1/sessions/${body.tuples.flat().join("-")}`);
    expect([400, 404]).toContain(byCode.status);
    expect(await byCode.text()).not.toContain(body.id);
  });
});

describe("bad requests get a 4xx with a reason", () => {
  const post = (url: string, body: string, type = "application/json") =>
    fetch(url, { method: "POST", body, headers: { "content-type": type } });

  test.each([
    ["malformed JSON report", "/v1/reports", '{"process":'],
    ["report of the wrong shape", "/v1/reports", JSON.stringify({ process: {}, claim: {} })],
    [
      "report with an out-of-range port number",
      "/v1/reports",
      JSON.stringify({
        process: { pid: 1, ppid: 0, uid: 0, user: "u", exe: "", name: "n" },
        claim: { strategy: "server-match", observed: [70000], failed: [] },
      }),
    ],
    [
      "report with a huge number",
      "/v1/reports",
      JSON.stringify({
        process: { pid: 1e300, ppid: 0, uid: 0, user: "u", exe: "", name: "n" },
        claim: { strategy: "server-match", observed: [1], failed: [] },
      }),
    ],
    [
      "instruction with a bad name",
      "/v1/sessions/AAAAAAAAAAAAAAAAAAAAAA/instructions",
      JSON.stringify({ name: "rm -rf /" }),
    ],
    ["acks of the wrong shape", "/v1/links/AAAA/acks", JSON.stringify({ acks: "all" })],
  ])("%s", async (_name, path, body) => {
    const server = await testServer();
    const response = await post(`${server.url}${path}`, body);
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    const answer = (await response.json()) as { error: { code: string; message: string } };
    expect(answer.error.message.length).toBeGreaterThan(0);
  });

  test("an oversized body is refused", async () => {
    const server = await testServer();
    const response = await post(`${server.url}/v1/reports`, `{"x":"${"a".repeat(2 * 1024 * 1024)}"}`);
    expect(response.status).toBe(413);
  });

  test("query strings of the wrong type", async () => {
    const server = await testServer();
    const { body } = await json(await fetch(`${server.url}/v1/sessions`, { method: "POST", headers: auth(server) }));
    for (const q of ["wait=soon", "wait=-1", "wait=1e9", "since=x", "format=yaml"]) {
      const response = await fetch(`${server.url}/v1/sessions/${body.id}?${q}`);
      expect(response.status).toBe(400);
    }
  });

  test("unknown session and unknown route", async () => {
    const server = await testServer();
    expect((await fetch(`${server.url}/v1/sessions/AAAAAAAAAAAAAAAAAAAAAA`)).status).toBe(404);
    expect((await fetch(`${server.url}/v1/nothing`)).status).toBe(404);
    const xml = await fetch(`${server.url}/v1/sessions/AAAAAAAAAAAAAAAAAAAAAA?format=xml`);
    expect(await xml.text()).toContain("<error>");
  });
});

describe("a new session names its origin", () => {
  test("an API key's session answers with the key's origin in pkipc-session-origin, so a client knocks without reading its status first", async () => {
    const server = await testServer();
    const made = await server.registry.issueApiKey("other", "https://saas.example");
    const response = await fetch(`${server.url}/v1/sessions`, {
      method: "POST",
      headers: { authorization: `Bearer ${made.key}` },
    });
    expect(response.status).toBe(201);
    expect(response.headers.get("pkipc-session-origin")).toBe("https://saas.example");
    const page = await fetch(`${server.url}/v1/sessions`, {
      method: "POST",
      headers: { origin: new URL(server.url).origin },
    });
    expect(page.status).toBe(201);
    expect(page.headers.get("pkipc-session-origin")).toBe(new URL(server.url).origin);
  });
});
