// Guessing: floods of random reports against many live sessions link nothing; the limiters engage; honest users still link.
import { describe, expect, test } from "bun:test";
import type { ClientResult } from "../../src/client/index.ts";
import { backendApi, enrollWith, runPkipc, testServer, testService } from "../helpers.ts";
import { type Answer, FAKE_PROCESS, randomPorts, requestFrom, signedPost } from "./tools.ts";

const OFF = { perSecond: 0, burst: 0 };

/** Runs `total` tasks with at most `width` at once. */
async function pool(total: number, width: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < total) await task(next++);
    }),
  );
}

describe("guessing", () => {
  test("100,000 random reports against 1,000 live sessions: none links, the limiter engages, honest clients link meanwhile", async () => {
    // Worst case for the server: origin binding off, so every guess is tried against every live session.
    // Creating the 1,000 sessions is set-up, not the attack: the per-address session limit is off too.
    const server = await testServer({
      ttlMs: 600_000,
      security: { bindOrigin: false, limits: { sessionsPerAddress: OFF } },
    });
    await testService(server.url);
    const api = backendApi(server.url);
    const live: string[] = [];
    await pool(1000, 32, async () => void live.push((await api.createSession()).id));
    const attacker = await enrollWith(server.url, "enrolled but malicious");
    const { range } = server.config;

    const statuses = new Map<number, number>();
    let linked = 0;
    let attempts = 0;
    const attack = pool(100_000, 96, async (i) => {
      const from = `127.0.0.${2 + (i % 4)}`;
      // Most guesses are full codes; some use the widest claim allowed (8 seen, 16 "failed" to fill in from).
      const claim =
        i % 5 === 0
          ? { strategy: "server-match", observed: randomPorts(range, 8), failed: randomPorts(range, 16) }
          : { strategy: "server-match", observed: randomPorts(range, 12), failed: [] };
      const body = JSON.stringify({ process: FAKE_PROCESS, claim });
      let answer: Answer;
      if (i % 10 === 9)
        answer = await requestFrom(from, server.url, "POST", "/v1/reports", {
          headers: { "content-type": "application/json" },
          body,
        });
      else answer = await signedPost(from, server.url, "/v1/reports", body, attacker);
      attempts++;
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (answer.status === 200 && JSON.parse(answer.body).linked) linked++;
      if (answer.status === 429) expect(Number(answer.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    });
    // Honest users, each a separate process with its own session, while the attack runs.
    const honest = (async () => {
      const results: ClientResult[] = [];
      for (let i = 0; i < 4; i++) {
        const run = await runPkipc(["client", "--server", server.url, "--json", "--timeout", "20s"]);
        results.push(JSON.parse(run.stdout) as ClientResult);
      }
      return results;
    })();
    const [honestResults] = await Promise.all([honest, attack]);

    expect(attempts).toBe(100_000);
    expect(linked).toBe(0);
    expect(statuses.get(401)).toBe(10_000); // the unsigned tenth
    expect(statuses.get(429) ?? 0).toBeGreaterThan(80_000); // the limiter answered nearly all the rest
    expect([...statuses.keys()].every((s) => s === 200 || s === 401 || s === 429)).toBe(true);
    for (const result of honestResults) expect(result.linked).toBe(true);
    const states = new Map<string, number>();
    await pool(live.length, 32, async (i) => {
      const state = (await api.status(live[i]!)).state;
      states.set(state, (states.get(state) ?? 0) + 1);
    });
    expect(Object.fromEntries(states)).toEqual({ pending: 1000 });
    console.log(`guessing: ${attempts} reports -> ${JSON.stringify(Object.fromEntries(statuses))}, linked ${linked}`);
  }, 600_000);

  test("session creation is limited per address (429 with Retry-After) and capped overall (503), without growing", async () => {
    const server = await testServer({
      maxLiveSessions: 200,
      security: { limits: { sessionsPerAddress: { perSecond: 1, burst: 30 } } },
    });
    const count = new Map<number, number>();
    for (let i = 0; i < 100; i++) {
      // As a page of the server's own origin asks: the limit is per address.
      const answer = await requestFrom("127.0.0.2", server.url, "POST", "/v1/sessions", {
        headers: { origin: server.url },
      });
      count.set(answer.status, (count.get(answer.status) ?? 0) + 1);
      if (answer.status === 429) expect(Number(answer.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    }
    expect(count.get(201)).toBeGreaterThanOrEqual(30);
    expect(count.get(429)).toBeGreaterThanOrEqual(60);
    // Another address is not affected by the first one's limit.
    expect(
      (await requestFrom("127.0.0.3", server.url, "POST", "/v1/sessions", { headers: { origin: server.url } })).status,
    ).toBe(201);

    // 400 addresses past the cap on page sessions: 503 from the 201st live session on, however many are asked for.
    const capped = await testServer({ maxPageSessions: 200 });
    const capCount = new Map<number, number>();
    await pool(20_000, 32, async (i) => {
      const answer = await requestFrom(`127.0.${1 + (i % 2)}.${2 + (i % 200)}`, capped.url, "POST", "/v1/sessions", {
        headers: { origin: capped.url },
      });
      capCount.set(answer.status, (capCount.get(answer.status) ?? 0) + 1);
    });
    expect(capCount.get(201)).toBe(200);
    expect(capCount.get(503)! + (capCount.get(429) ?? 0)).toBe(19_800);
    expect((await fetch(`${capped.url}/healthz`)).status).toBe(200);
  }, 300_000);
});
