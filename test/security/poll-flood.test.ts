// Issue 19 item 1, as the attacker acts: page sessions made with a forged Origin from 50 addresses, then
// thousands of long polls held on them at once. Past the store's bound of waiters the old server spun on
// resolved promises until each poll's deadline (memory: no I/O served; Redis: a stream of round trips).
// Scaled to what one test process holds (3,000 polls, a store bound of 2,000 waiters); the full 10,000 + 120
// flood, with RSS and latencies, is bench/poll-flood.ts.
import { describe, expect, test } from "bun:test";
import { silentLogger } from "../../src/lib/log.ts";
import { redisConnection } from "../../src/server/state/redis/connection.ts";
import { memoryStore } from "../../src/server/state/memory/sessions.ts";
import { redisStore } from "../../src/server/state/redis/sessions.ts";
import type { SessionStore } from "../../src/server/state/types.ts";
import { backendApi, onCleanup, testServer } from "../helpers.ts";
import { testRedis } from "../redis.ts";
import { pollFlood, sourceAddress, tally } from "./poll-flood-tools.ts";
import { requestFrom } from "./tools.ts";

const ADDRESSES = Array.from({ length: 50 }, (_, i) => sourceAddress(i));
const POLLS = 3_000;
const WAIT_S = 20;
/** A poll must be answered by its deadline; this much later counts as never. */
const GRACE_MS = 10_000;

/** ms until `call` settles, or Infinity when it does not within 10 s (the old server took the poll's whole wait). */
async function timed(call: (signal: AbortSignal) => Promise<unknown>): Promise<number> {
  const start = performance.now();
  try {
    await call(AbortSignal.timeout(10_000));
    return performance.now() - start;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/** Runs the flood against a server on `store`; answers what the attacker and an honest backend saw. */
async function flood(store: SessionStore) {
  const server = await testServer({}, store);
  // A page session from each address, with only an Origin header (curl forges it as easily).
  const ids: string[] = [];
  for (const address of ADDRESSES) {
    const made = await requestFrom(address, server.url, "POST", "/v1/sessions", { headers: { origin: server.url } });
    expect(made.status).toBe(201);
    ids.push(JSON.parse(made.body).id);
  }
  const paths = ids.map((id) => `/v1/sessions/${id}?wait=${WAIT_S}`);
  const polls = pollFlood(server.url, paths, ADDRESSES, POLLS, { origin: server.url }, WAIT_S * 1000 + GRACE_MS);
  onCleanup(() => polls.close());
  await Bun.sleep(3_000); // the polls are sent and held (or answered)
  const health = await timed((signal) => fetch(`${server.url}/healthz`, { signal }).then((r) => r.json()));
  const api = backendApi(server.url, { timeoutMs: 10_000 });
  const create = await timed(() => api.createSession());
  const outcomes = await polls.done;
  const after = await timed((signal) => fetch(`${server.url}/healthz`, { signal }).then((r) => r.json()));
  const counts = tally(outcomes);
  const slowest = Math.max(...outcomes.map((o) => o.ms));
  console.log(
    `poll flood (${store.name}): ${POLLS} polls from ${ADDRESSES.length} addresses -> ${JSON.stringify(counts)}; slowest answer ${slowest.toFixed(0)} ms; /healthz ${health.toFixed(0)} ms during, ${after.toFixed(0)} ms after; backend create ${create.toFixed(0)} ms`,
  );
  return { counts, slowest, health, create, after };
}

describe("a long-poll flood does not freeze the server", () => {
  test("memory store: /healthz and a backend's create answer during the flood; every poll is answered (200, 429 or 503) by its deadline", async () => {
    const seen = await flood(memoryStore({ maxWaiters: 2_000 }));
    // Generous bounds: the old server took the polls' whole 20 s wait (measured: 2 ms -> 30 s at full scale).
    expect(seen.health).toBeLessThan(5_000);
    expect(seen.create).toBeLessThan(5_000);
    expect(seen.after).toBeLessThan(5_000);
    expect(Object.keys(seen.counts).every((s) => ["200", "429", "503"].includes(s))).toBe(true);
    expect(seen.slowest).toBeLessThan(WAIT_S * 1000 + GRACE_MS);
    // Each address held at most its share (32), within the store's bound; the rest were told at once to come back.
    expect(seen.counts[200] ?? 0).toBeLessThanOrEqual(ADDRESSES.length * 32);
    expect(seen.counts[429] ?? 0).toBeGreaterThanOrEqual(POLLS - ADDRESSES.length * 32);
  });

  test("Redis store: the same flood is answered without a stream of round trips, and the server stays responsive", async () => {
    const redis = await testRedis();
    const connection = redisConnection({ url: redis.url }, silentLogger);
    const store = await redisStore(connection, silentLogger, { maxWaiters: 2_000 });
    onCleanup(async () => {
      await store.close();
      await connection.close();
    });
    const commands = async () =>
      Number(/total_commands_processed:(\d+)/.exec(String(await redis.command("INFO", "stats")))?.[1]);
    const before = await commands();
    const seen = await flood(store);
    const spent = (await commands()) - before;
    console.log(`poll flood (redis): ${spent} Redis commands for ${POLLS} polls`);
    expect(seen.health).toBeLessThan(5_000);
    expect(seen.create).toBeLessThan(5_000);
    expect(Object.keys(seen.counts).every((s) => ["200", "429", "503"].includes(s))).toBe(true);
    expect(seen.slowest).toBeLessThan(WAIT_S * 1000 + GRACE_MS);
    expect(seen.counts[200] ?? 0).toBeLessThanOrEqual(ADDRESSES.length * 32);
    expect(seen.counts[429] ?? 0).toBeGreaterThanOrEqual(POLLS - ADDRESSES.length * 32);
    // A held poll costs a few commands (read, listen, re-check), not one per turn of a loop.
    expect(spent).toBeLessThan(POLLS * 20);
  });
});
