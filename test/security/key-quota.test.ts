// Issue 19 item 11, as the attacker acts: one API key queues 16 KiB of args x 16 instructions in session after
// session (kept 330 s), and grew the server from 63 MiB to 1.6 GiB in 150 s. What one key may hold (bytes of
// queued args, live sessions) is now bounded, with 429 past it, on memory and on Redis (across instances).
import { describe, expect, test } from "bun:test";
import { apiClient } from "../../src/protocol/api-client.ts";
import { backendApi, testServer } from "../helpers.ts";
import { testRedis } from "../redis.ts";

const MIB = 1024 * 1024;
/** 16,008 bytes of args: four keys of 4,000 bytes each, as near the 16 KiB an instruction may carry as fits. */
const FULL = Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`k${i}`, "x".repeat(4000)]));
const FULL_BYTES = 16_008;

type Api = ReturnType<typeof backendApi>;
const statusOf = (e: unknown) => (e as { status?: number }).status ?? 0;

/** Queues FULL instructions, 16 a session, through `apis` in turn, until one is refused or `most` went in; how many went in and the refusal's status. */
async function fill(apis: Api[], most: number): Promise<{ accepted: number; refused: number }> {
  let accepted = 0;
  for (let s = 0; accepted < most; s++) {
    const api = apis[s % apis.length]!;
    const offer = await api.createSession();
    for (let i = 0; i < 16 && accepted < most; i++) {
      const refused = await api.queueInstruction(offer.id, { name: "log", args: FULL }).then(() => 0, statusOf);
      if (refused) return { accepted, refused };
      accepted++;
    }
  }
  return { accepted, refused: 0 };
}

describe("what one API key may hold is bounded", () => {
  test("memory: bytes of queued args past the key's bound get 429; another key still queues", async () => {
    const server = await testServer({ maxArgsBytesPerApiKey: MIB });
    const { accepted, refused } = await fill([backendApi(server.url)], 200);
    console.log(`one key (memory): ${accepted} instructions of ${FULL_BYTES} bytes accepted, then ${refused}`);
    expect(refused).toBe(429);
    expect(accepted).toBe(Math.floor(MIB / FULL_BYTES));
    const other = apiClient(server.url, {
      apiKey: (await server.registry.issueApiKey("other", new URL(server.url).origin)).key,
    });
    expect((await fill([other], 16)).accepted).toBe(16);
  });

  test("memory: live sessions past the key's bound get 429; another key still creates", async () => {
    const server = await testServer({ maxSessionsPerApiKey: 50 });
    const api = backendApi(server.url);
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) statuses.push(await api.createSession().then(() => 201, statusOf));
    expect(statuses.filter((s) => s === 201)).toHaveLength(50);
    expect(statuses.filter((s) => s === 429)).toHaveLength(10);
    const other = apiClient(server.url, {
      apiKey: (await server.registry.issueApiKey("other", new URL(server.url).origin)).key,
    });
    await other.createSession();
  });

  test("Redis, two instances: the key's bytes and sessions are counted across both", async () => {
    const redis = await testRedis();
    const a = await testServer({ store: redis.url, maxArgsBytesPerApiKey: MIB, maxSessionsPerApiKey: 50 });
    const b = await testServer({ store: redis.url, maxArgsBytesPerApiKey: MIB, maxSessionsPerApiKey: 50 });
    // One key (issued through A, known to B through Redis), used on both.
    const key = a.apiKey;
    const onA = apiClient(a.url, { apiKey: key });
    const onB = apiClient(b.url, { apiKey: key });
    const { accepted, refused } = await fill([onA, onB], 200);
    console.log(
      `one key (redis, two instances): ${accepted} instructions of ${FULL_BYTES} bytes accepted, then ${refused}`,
    );
    expect(refused).toBe(429);
    expect(accepted).toBe(Math.floor(MIB / FULL_BYTES));
    // fill() made 5 sessions; 45 more fit, on either instance, then 429.
    const statuses: number[] = [];
    for (let i = 0; i < 50; i++) statuses.push(await (i % 2 ? onA : onB).createSession().then(() => 201, statusOf));
    expect(statuses.filter((s) => s === 201)).toHaveLength(45);
    expect(statuses.filter((s) => s === 429)).toHaveLength(5);
  });
});
