// Issue 19 item 2, as the attacker acts: page sessions (only an Origin header, which curl forges) from 150
// addresses, or from one IPv6 /64, used to fill --max-sessions so the SaaS backend's own creates got 503. Page
// sessions now count apart from the API keys', bounded per client network and in all, on memory and on Redis.
import { describe, expect, test } from "bun:test";
import { backendApi, testServer } from "../helpers.ts";
import { testRedis } from "../redis.ts";
import { sourceAddress } from "./poll-flood-tools.ts";
import { requestFrom } from "./tools.ts";

const RAISED = { perSecond: 1000, burst: 1000 };

/** Page creates on `url`, request i from addresses[i % n] with `headers(i)`, 50 at a time; the statuses seen. */
async function pageFlood(
  url: string,
  addresses: string[],
  count: number,
  headers: (i: number) => Record<string, string> = () => ({}),
) {
  const statuses: Record<number, number> = {};
  for (let i = 0; i < count; i += 50) {
    const batch = Array.from({ length: Math.min(50, count - i) }, (_, j) =>
      requestFrom(addresses[(i + j) % addresses.length]!, url, "POST", "/v1/sessions", {
        headers: { origin: url, ...headers(i + j) },
      }).then((a) => a.status),
    );
    for (const status of await Promise.all(batch)) statuses[status] = (statuses[status] ?? 0) + 1;
  }
  return statuses;
}

/** The statuses of 25 creates by the SaaS backend (its API key) on `url`. */
async function backendCreates(url: string): Promise<number[]> {
  const api = backendApi(url);
  const statuses: number[] = [];
  for (let i = 0; i < 25; i++)
    statuses.push(
      await api.createSession().then(
        () => 201,
        (e: { status?: number }) => e.status ?? 0,
      ),
    );
  return statuses;
}

const ADDRESSES = Array.from({ length: 150 }, (_, i) => sourceAddress(i));

describe("page sessions cannot starve the backend of sessions", () => {
  test("memory: 150 addresses fill the pages' room (bounded in all), and the backend still creates 25 of 25", async () => {
    const server = await testServer({ maxLiveSessions: 300, maxPageSessions: 200 });
    const flood = await pageFlood(server.url, ADDRESSES, 600);
    console.log(`page flood from 150 addresses (memory): ${JSON.stringify(flood)}`);
    expect(await backendCreates(server.url)).toEqual(Array(25).fill(201));
    expect(flood[201]).toBe(200); // the pages' room, and no more
  });

  test("memory: one IPv4 address holds at most 32 pending page sessions, whatever its rate limit; another address is not affected", async () => {
    const server = await testServer({ security: { limits: { sessionsPerAddress: RAISED } } });
    const flood = await pageFlood(server.url, ["127.0.0.2"], 100);
    expect(flood[201]).toBe(32);
    expect(flood[429]).toBe(68);
    expect((await pageFlood(server.url, ["127.0.0.3"], 1))[201]).toBe(1);
  });

  test("memory: one IPv6 /64 counts as one client, however many of its addresses it speaks from", async () => {
    // Behind a trusted proxy, the server sees each request's IPv6 address in X-Forwarded-For.
    const server = await testServer({
      security: { trustProxyHeader: "x-forwarded-for", limits: { sessionsPerAddress: RAISED } },
    });
    const from64 = (i: number) => ({
      "x-forwarded-for": `2001:db8:7:1:${(i + 1).toString(16)}:${((i * 7919) % 65536).toString(16)}::1`,
    });
    const flood = await pageFlood(server.url, ["127.0.0.2"], 100, from64);
    console.log(`page flood from 100 addresses of one /64: ${JSON.stringify(flood)}`);
    expect(flood[201]).toBe(32);
    // Another /64 of the same /48 is another client.
    expect((await pageFlood(server.url, ["127.0.0.2"], 1, () => ({ "x-forwarded-for": "2001:db8:7:2::1" })))[201]).toBe(
      1,
    );
    // And with the default rate limit, the /64 shares one bucket: its addresses do not each get a burst of 30.
    const limited = await testServer({ security: { trustProxyHeader: "x-forwarded-for" } });
    const burst = await pageFlood(limited.url, ["127.0.0.2"], 100, from64);
    expect(burst[201]).toBeLessThanOrEqual(32);
  });

  test("Redis, two instances: flooding instance A with page sessions does not starve instance B's backend, and a network's bound holds across both", async () => {
    const redis = await testRedis();
    const a = await testServer({ store: redis.url, maxLiveSessions: 300 });
    const b = await testServer({ store: redis.url, maxLiveSessions: 300 });
    const flood = await pageFlood(a.url, ADDRESSES, 600);
    console.log(`page flood from 150 addresses (redis, instance A): ${JSON.stringify(flood)}`);
    expect(await backendCreates(b.url)).toEqual(Array(25).fill(201));
    expect(flood[201]).toBeGreaterThan(300); // more than --max-sessions: page sessions count apart
    // One address split over both instances still holds at most 32.
    const raised = { security: { limits: { sessionsPerAddress: RAISED } } };
    const c = await testServer({ store: redis.url, maxLiveSessions: 300, ...raised });
    const d = await testServer({ store: redis.url, maxLiveSessions: 300, ...raised });
    const onC = await pageFlood(c.url, ["127.0.9.9"], 20);
    const onD = await pageFlood(d.url, ["127.0.9.9"], 20);
    expect((onC[201] ?? 0) + (onD[201] ?? 0)).toBe(32);
  });
});
