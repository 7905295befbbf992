// The review's resource findings, as attackers act: one enrolled service locking out the others, unbounded
// instruction args, guessing the admin secret, and enumerate reports past the server's own bound.
import { describe, expect, test } from "bun:test";
import { MAX_ARGS_BYTES } from "../../src/protocol/schemas.ts";
import { signRequest } from "../../src/protocol/signing.ts";
import { backendApi, enrollWith, testServer } from "../helpers.ts";
import { FAKE_PROCESS, requestFrom, signedPost } from "./tools.ts";

const OFF = { perSecond: 0, burst: 0 };
const codeOf = (answer: { body: string }) => (JSON.parse(answer.body) as { error: { code: string } }).error.code;

/** `count` signed pulls of a link id that does not exist: cheap for the sender, each one a stored nonce. */
async function pulls(url: string, credentials: { serviceId: string; key: string }, count: number): Promise<number[]> {
  const path = "/v1/links/AAAAAAAAAAAAAAAAAAAAAA/instructions";
  const statuses: number[] = [];
  for (let i = 0; i < count; i += 50) {
    const batch = Array.from({ length: Math.min(50, count - i) }, () =>
      requestFrom("127.0.0.1", url, "GET", path, {
        headers: signRequest(credentials, { method: "GET", path, body: "" }),
      }).then((a) => a.status),
    );
    statuses.push(...(await Promise.all(batch)));
  }
  return statuses;
}

describe("one enrolled service cannot lock the others out", () => {
  test("its signed requests are limited before their nonces are stored: another service still reports", async () => {
    // A small replay cache, so filling it takes a thousand requests rather than 200,000.
    const server = await testServer({ security: { maxNonces: 1000 } });
    const hostile = await enrollWith(server.url, "hostile");
    const honest = await enrollWith(server.url, "honest");
    const statuses = await pulls(server.url, hostile, 1200);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(900);
    expect(server.security.limits.requestsPerService.burst).toBeLessThan(1000);
    const offer = await backendApi(server.url).createSession();
    const answer = await signedPost(
      "127.0.0.1",
      server.url,
      "/v1/reports",
      {
        process: FAKE_PROCESS,
        claim: { strategy: "server-match", observed: offer.tuples.flat(), failed: [] },
        origin: new URL(server.url).origin,
      },
      honest,
    );
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).linked).toBe(true);
  });

  test("with its rate limit lifted, its share of the replay cache is capped: another service still reports", async () => {
    const server = await testServer({
      security: { maxNonces: 1000, maxNoncesPerService: 400, limits: { requestsPerService: OFF } },
    });
    const hostile = await enrollWith(server.url, "hostile");
    const honest = await enrollWith(server.url, "honest");
    const statuses = await pulls(server.url, hostile, 600);
    expect(statuses.filter((s) => s === 404).length).toBe(400); // accepted (no such link), each nonce stored
    expect(statuses.filter((s) => s === 429).length).toBe(200);
    const offer = await backendApi(server.url).createSession();
    const answer = await signedPost(
      "127.0.0.1",
      server.url,
      "/v1/reports",
      {
        process: FAKE_PROCESS,
        claim: { strategy: "server-match", observed: offer.tuples.flat(), failed: [] },
        origin: new URL(server.url).origin,
      },
      honest,
    );
    expect(JSON.parse(answer.body).linked).toBe(true);
  });
});

describe("instructions are bounded", () => {
  test("args of more than 32 keys, or more than 16 KiB, are refused; a session holds at most 16 instructions", async () => {
    const server = await testServer();
    const api = backendApi(server.url);
    const offer = await api.createSession();
    const manyKeys = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"]));
    await expect(api.queueInstruction(offer.id, { name: "log", args: manyKeys })).rejects.toMatchObject({
      status: 400,
    });
    // Key names were unbounded before (up to the 1 MiB body): the server took 1.3 GB for 960 such instructions.
    for (const name of ["k".repeat(65), "k".repeat(100_000), "a key", "ключ"]) {
      await expect(api.queueInstruction(offer.id, { name: "log", args: { [name]: "v" } })).rejects.toMatchObject({
        status: 400,
      });
    }
    const big = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`k${i}`, "x".repeat(4000)]));
    expect(Object.values(big).join("").length).toBeGreaterThan(MAX_ARGS_BYTES);
    await expect(api.queueInstruction(offer.id, { name: "log", args: big })).rejects.toMatchObject({ status: 400 });
    const full = Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`k${i}`, "x".repeat(4000)]));
    for (let i = 0; i < 16; i++) await api.queueInstruction(offer.id, { name: "log", args: full });
    await expect(api.queueInstruction(offer.id, { name: "log", args: full })).rejects.toMatchObject({ status: 503 });
    // A full session still reads fine, and a page reading it gets the progress without the args.
    const status = await api.status(offer.id);
    expect(status.instructions).toHaveLength(16);
    expect(JSON.stringify(await (await fetch(`${server.url}/v1/sessions/${offer.id}`)).json()).length).toBeLessThan(
      4096,
    );
  });

  test("reading a session is limited per address for pages", async () => {
    const server = await testServer({ security: { limits: { readsPerAddress: { perSecond: 1, burst: 20 } } } });
    const offer = await backendApi(server.url).createSession();
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await fetch(`${server.url}/v1/sessions/${offer.id}`)).status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(9);
    // The backend, with its key, is counted by its key, not by the address it shares with the page.
    expect((await backendApi(server.url).status(offer.id)).state).toBe("pending");
  });
});

describe("the admin secret cannot be guessed at speed", () => {
  test("after 10 wrong secrets from one address, wrong ones get 429; the right one always passes; requests without a secret count for nothing", async () => {
    const secret = "the-right-admin-secret";
    const server = await testServer({ security: { adminSecret: secret } });
    const attempt = (from: string, headers: Record<string, string>) =>
      requestFrom(from, server.url, "POST", "/v1/admin/tokens", { headers });
    // What any web page can send: no Authorization at all. Counted nowhere.
    for (let i = 0; i < 20; i++) expect((await attempt("127.0.0.2", {})).status).toBe(401);
    const wrong: number[] = [];
    for (let i = 0; i < 12; i++)
      wrong.push((await attempt("127.0.0.2", { authorization: `Bearer guess-${i}` })).status);
    expect(wrong.slice(0, 10)).toEqual(Array(10).fill(401));
    const limited = await attempt("127.0.0.2", { authorization: "Bearer guess-13" });
    expect(limited.status).toBe(429);
    expect(limited.headers["retry-after"]).toBeDefined();
    expect((await attempt("127.0.0.2", { authorization: `Bearer ${secret}` })).status).toBe(201);
    expect((await attempt("127.0.0.3", { authorization: `Bearer ${secret}` })).status).toBe(201);
  });
});

describe("the server enforces its own bound on enumerate reports", () => {
  test("a report with more completions than --max-completions links nothing", async () => {
    const { enumerate } = await import("../../plugins/bind-failure/enumerate.ts");
    const server = await testServer({
      bindFailure: enumerate,
      maxCompletions: 10,
      security: { limits: { requestsPerService: OFF } },
    });
    const credentials = await enrollWith(server.url);
    const offer = await backendApi(server.url).createSession();
    const code = offer.tuples.flat();
    // The real code among 11 completions: before, the server looked up every one it was sent.
    const decoys = Array.from({ length: 10 }, (_, i) =>
      [...code.slice(1), server.config.range.start + i].sort((a, b) => a - b),
    );
    const report = {
      process: FAKE_PROCESS,
      claim: { strategy: "enumerate", completions: [...decoys, [...code].sort((a, b) => a - b)] },
    };
    const answer = JSON.parse((await signedPost("127.0.0.1", server.url, "/v1/reports", report, credentials)).body);
    expect(answer).toMatchObject({ linked: false, code: "TOO_MANY_COMPLETIONS" });
    expect((await backendApi(server.url).status(offer.id)).state).toBe("pending");
  });
});

describe("refused answers", () => {
  test("a 429 names its code and a retry time", async () => {
    const server = await testServer({ security: { limits: { readsPerAddress: { perSecond: 1, burst: 1 } } } });
    const offer = await backendApi(server.url).createSession();
    await fetch(`${server.url}/v1/sessions/${offer.id}`);
    const limited = await requestFrom("127.0.0.1", server.url, "GET", `/v1/sessions/${offer.id}`);
    expect(limited.status).toBe(429);
    expect(codeOf(limited)).toBe("RATE_LIMITED");
  });
});
