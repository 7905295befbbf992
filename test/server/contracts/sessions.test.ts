// The session store contract: memory and Redis answer alike, including the races two instances run.
import { afterAll, describe, expect, test } from "bun:test";
import { RateLimitError } from "../../../src/lib/errors.ts";
import { type BucketStore, sharedLimiter } from "../../../src/lib/rate-limit.ts";
import { memoryBuckets } from "../../../src/server/state/memory/buckets.ts";
import { silentLogger } from "../../../src/lib/log.ts";
import { redisBuckets } from "../../../src/server/state/redis/buckets.ts";
import { memoryStore } from "../../../src/server/state/memory/sessions.ts";
import { redisStore } from "../../../src/server/state/redis/sessions.ts";
import type { SessionRecord, SessionStore } from "../../../src/server/state/types.ts";
import { onCleanup } from "../../helpers.ts";
import {
  linkedRecord as linked,
  redisBackends,
  sessionRecord as session,
  stopSharedDeployments,
  testConnection,
} from "./backends.ts";

/**
 * Two handles on one store: for memory the same object, for Redis two stores on two connections (two
 * instances); then each one's rate-limit buckets, as the server opens them beside its store.
 */
const implementations: Array<{
  name: string;
  open(): Promise<[SessionStore, SessionStore, BucketStore, BucketStore]>;
}> = [
  {
    name: "memory",
    async open() {
      const store = memoryStore();
      onCleanup(() => store.close());
      const buckets = memoryBuckets();
      return [store, store, buckets, buckets];
    },
  },
  ...redisBackends.map((backend) => ({
    name: backend.name,
    async open(): Promise<[SessionStore, SessionStore, BucketStore, BucketStore]> {
      const [a, b] = await backend.open();
      const first = await redisStore(a, silentLogger);
      const second = await redisStore(b, silentLogger);
      onCleanup(() => first.close());
      onCleanup(() => second.close());
      return [first, second, redisBuckets(a), redisBuckets(b)];
    },
  })),
];

afterAll(stopSharedDeployments);

for (const impl of implementations) {
  describe(`session store contract: ${impl.name}`, () => {
    test("a session reads back as inserted, by id and once linked by its link id", async () => {
      const [store] = await impl.open();
      const record = session(
        [
          [20001, 20002],
          [20003, 20004],
        ],
        { origin: "https://saas.example", apiKeyId: "ak_1" },
      );
      expect(await store.insert(record)).toBe(true);
      expect(await store.get(record.id)).toEqual(record);
      expect(await store.get("nosuchsession000")).toBeUndefined();
      expect(await store.getByLink("nosuchlink")).toBeUndefined();
      expect(await store.replace(linked(record, "link000000001"), 0)).toBe(true);
      const read = await store.getByLink("link000000001");
      expect(read?.id).toBe(record.id);
      expect(read?.state).toBe("linked");
    });

    test("a pending session's failure reads back whole on the other instance, with when an unproven one may show; it stays in the live code index", async () => {
      const [a, b] = await impl.open();
      const record = session([[20041, 20042]]);
      await a.insert(record);
      const failure = {
        reason: "SERVICE_NOT_ENROLLED" as const,
        why: "its report was not signed",
        visibleAt: Date.now() + 1750,
      };
      const marked: SessionRecord = { ...record, version: 1, failure };
      expect(await a.replace(marked, 0)).toBe(true);
      expect(await b.get(record.id)).toEqual(marked);
      expect((await b.find([[20041, 20042]])).map((r) => r.failure)).toEqual([failure]);
    });

    test("no two live sessions share a code, from either instance; once linked the code is free again", async () => {
      const [a, b] = await impl.open();
      const first = session([
        [20011, 20012],
        [20013, 20014],
      ]);
      expect(await a.insert(first)).toBe(true);
      expect(
        await b.insert(
          session([
            [20011, 20012],
            [20013, 20014],
          ]),
        ),
      ).toBe(false);
      // The same ports in another order are the same code (the key is the set of ports); one port more is another.
      expect(
        await b.insert(
          session([
            [20013, 20014],
            [20011, 20012],
          ]),
        ),
      ).toBe(false);
      expect(
        await b.insert(
          session([
            [20011, 20012],
            [20013, 20015],
          ]),
        ),
      ).toBe(true);
      expect(await a.replace(linked(first, "link000000002"), 0)).toBe(true);
      expect(
        await b.insert(
          session([
            [20011, 20012],
            [20013, 20014],
          ]),
        ),
      ).toBe(true);
    });

    test("an expired session's code may be drawn again", async () => {
      const [a, b] = await impl.open();
      expect(await a.insert(session([[20021, 20022]], { expiresAt: Date.now() + 100 }))).toBe(true);
      await Bun.sleep(150);
      expect(await b.insert(session([[20021, 20022]]))).toBe(true);
    });

    test("two instances race to link one session: exactly one replace wins", async () => {
      const [a, b] = await impl.open();
      const record = session([[20031, 20032]]);
      await a.insert(record);
      const results = await Promise.all([
        a.replace(linked(record, "linkA00000001"), 0),
        b.replace(linked(record, "linkB00000001"), 0),
      ]);
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results[0] ? "linkA00000001" : "linkB00000001";
      const loser = results[0] ? "linkB00000001" : "linkA00000001";
      expect((await b.get(record.id))?.linkId).toBe(winner);
      expect(await a.getByLink(loser)).toBeUndefined();
      // A stale version never wins later either.
      expect(await a.replace({ ...record, version: 5 }, 0)).toBe(false);
    });

    test("find: the pending, unexpired sessions whose code is exactly one of the codes asked for, in any order, each once", async () => {
      const [a, b] = await impl.open();
      const one = session([
        [20041, 20042],
        [20043, 20044],
      ]);
      const two = session([
        [20041, 20045],
        [20046, 20047],
      ]);
      const gone = session(
        [
          [20041, 20042],
          [20048, 20049],
        ],
        { expiresAt: Date.now() + 50 },
      );
      for (const r of [one, two, gone]) expect(await a.insert(r)).toBe(true);
      await Bun.sleep(100);
      const ids = async (codes: number[][]) => (await b.find(codes)).map((r) => r.id).sort();
      expect(await ids([[20044, 20043, 20042, 20041]])).toEqual([one.id]);
      expect(
        await ids([
          [20041, 20042, 20043, 20044],
          [20047, 20046, 20045, 20041],
          [20041, 20042, 20043, 20049],
        ]),
      ).toEqual([one.id, two.id].sort());
      // Part of a code, more than a code, or a code with one port changed: none of them is the code.
      expect(
        await ids([
          [20041, 20042, 20043],
          [20041, 20042, 20043, 20044, 20045],
          [20041, 20042, 20043, 20045],
        ]),
      ).toEqual([]);
      expect(await ids([[20041, 20042, 20048, 20049]])).toEqual([]); // expired
      expect(
        await ids([
          [20041, 20042, 20043, 20044],
          [20044, 20043, 20042, 20041],
        ]),
      ).toEqual([one.id]);
      expect(await b.find([])).toEqual([]);
      expect(await a.replace(linked(one, "link000000004"), 0)).toBe(true);
      expect(
        await ids([
          [20041, 20042, 20043, 20044],
          [20041, 20045, 20046, 20047],
        ]),
      ).toEqual([two.id]);
    });

    test("find looks up as many codes as a report may stand for (--max-completions allows 100,000), with its charges", async () => {
      const [a, b, onA] = await impl.open();
      const one = session([
        [20201, 20202],
        [20203, 20204],
      ]);
      expect(await a.insert(one)).toBe(true);
      // 12,000 codes, the live one last: past what a Lua call can take at once (about 8,000 values).
      const codes = Array.from({ length: 11_999 }, (_, i) => [
        30000 + (i % 500),
        31000 + Math.floor(i / 500),
        32000,
        32001,
      ]);
      codes.push([20204, 20203, 20202, 20201]);
      const charge = sharedLimiter({ perSecond: 0.01, burst: 5 }, "reports", "test-many", onA).charge("k");
      expect((await b.find(codes, charge)).map((r) => r.id)).toEqual([one.id]);
    });

    test("find takes its charges first, in the same step: a spent limit answers 429; both instances spend one bucket", async () => {
      const [a, b, onA, onB] = await impl.open();
      const one = session([
        [20111, 20112],
        [20113, 20114],
      ]);
      await a.insert(one);
      const code = [20111, 20112, 20113, 20114];
      const charge = (buckets: BucketStore) =>
        sharedLimiter({ perSecond: 0.01, burst: 2 }, "reports", "test-reports", buckets).charge("k");
      expect((await a.find([code], charge(onA))).map((r) => r.id)).toEqual([one.id]);
      expect(await b.find([[20111, 20112, 20113, 20119]], charge(onB))).toEqual([]);
      await expect(b.find([code], charge(onB))).rejects.toThrow(/^too many reports;/);
      await expect(a.find([], charge(onA))).rejects.toBeInstanceOf(RateLimitError);
      expect((await a.find([code])).map((r) => r.id)).toEqual([one.id]);
    });

    test("a change on one instance wakes a wait held on the other; a wait ends when its signal aborts", async () => {
      const [a, b] = await impl.open();
      const record = session([[20051, 20052]]);
      await a.insert(record);
      let woken = false;
      const wait = b.changed(record.id, 0, AbortSignal.timeout(20_000)).then(() => (woken = true));
      await Bun.sleep(50);
      expect(woken).toBe(false);
      expect(
        await a.replace(
          { ...record, version: 1, instructions: [{ id: "i1", name: "x", args: {}, state: "queued" }] },
          0,
        ),
      ).toBe(true);
      await wait;
      expect(woken).toBe(true);
      expect((await b.get(record.id))?.version).toBe(1);
      // Already past the version: answers at once.
      await b.changed(record.id, 0, AbortSignal.timeout(20_000));
      // Woken by a change it made itself, a store may answer with the new record (sparing a read).
      const local = a.changed(record.id, 1, AbortSignal.timeout(20_000));
      await Bun.sleep(20);
      const second = {
        ...record,
        version: 2,
        instructions: [{ id: "i2", name: "y", args: {}, state: "queued" as const }],
      };
      expect(await a.replace(second, 1)).toBe(true);
      const handed = await local;
      if (handed) expect(handed).toEqual(second);
      const controller = new AbortController();
      const aborted = b.changed(record.id, 2, controller.signal);
      controller.abort();
      await aborted;
    });

    test("an insert takes its charges in the same step: a spent limit answers 429 and inserts nothing; both instances spend one bucket", async () => {
      const [a, b, onA, onB] = await impl.open();
      const spec = { perSecond: 0.01, burst: 2 };
      const calls = (buckets: BucketStore) =>
        sharedLimiter({ perSecond: 0.01, burst: 100 }, "calls", "test-calls", buckets).charge("k");
      const sessions = (buckets: BucketStore) => sharedLimiter(spec, "sessions", "test-sessions", buckets).charge("k");
      const live = await b.liveCount();
      expect(await a.insert(session([[20091, 20092]]), { charges: [...calls(onA), ...sessions(onA)] })).toBe(true);
      // The code is live: nothing inserted, yet the request counted.
      expect(await b.insert(session([[20091, 20092]]), { charges: [...calls(onB), ...sessions(onB)] })).toBe(false);
      const refused = session([[20093, 20094]]);
      const error = await b.insert(refused, { charges: [...calls(onB), ...sessions(onB)] }).catch((e) => e);
      expect(error).toBeInstanceOf(RateLimitError);
      expect((error as RateLimitError).message).toMatch(/^too many sessions;/);
      expect(await a.get(refused.id)).toBeUndefined();
      expect(await b.liveCount()).toBe(live + 1);
      // Charges are taken in order and the ones before a refusal stay taken: 3 calls went before, this is the 4th.
      expect(
        await sharedLimiter({ perSecond: 0.01, burst: 100 }, "calls", "test-calls", onA).take("k"),
      ).toBeUndefined();
      expect(await onA.spend("test-calls:k", { perSecond: 0.01, burst: 100 }, 0)).toBeCloseTo(96, 0);
      // The code of the refused session was never taken; a limit that is off charges nothing.
      expect(sharedLimiter({ perSecond: 0, burst: 0 }, "off", "test-off", onA).charge("k")).toEqual([]);
      expect(await a.insert(refused)).toBe(true);
    });

    test("the live-session cap is checked in the insert's step, counting both instances' sessions: full, it answers 503 and writes nothing", async () => {
      const [a, b, onA] = await impl.open();
      const live = await a.liveCount();
      expect(await a.insert(session([[20101, 20102]]), { maxLive: live + 2 })).toBe(true);
      expect(await b.insert(session([[20103, 20104]]), { maxLive: live + 2 })).toBe(true);
      const charges = sharedLimiter({ perSecond: 0.01, burst: 10 }, "sessions", "test-cap", onA).charge("k");
      const refused = session([[20105, 20106]]);
      await expect(a.insert(refused, { charges, maxLive: live + 2 })).rejects.toThrow(
        `too many live sessions (${live + 2}); try again shortly`,
      );
      expect(await b.get(refused.id)).toBeUndefined();
      expect(await b.liveCount()).toBe(live + 2);
      // Refused for capacity, the request still counted.
      expect(await onA.spend("test-cap:k", { perSecond: 0.01, burst: 10 }, 0)).toBeCloseTo(9, 0);
      expect(await b.insert(refused, { maxLive: live + 3 })).toBe(true);
    });

    test("a quota is checked in the insert's step across both instances: its group full, the first full quota refuses and nothing is written; linked and expired sessions leave it", async () => {
      const [a, b] = await impl.open();
      const group = `test-group-${Math.random().toString(36).slice(2)}`;
      const quota = (max: number, name = group) => ({ group: name, max, refusal: () => new Error(`${name} is full`) });
      const roomy = quota(100, `${group}-roomy`);
      const first = session([[20201, 20202]]);
      expect(await a.insert(first, { quotas: [roomy, quota(2)] })).toBe(true);
      expect(await b.insert(session([[20203, 20204]]), { quotas: [roomy, quota(2)] })).toBe(true);
      const refused = session([[20205, 20206]]);
      await expect(a.insert(refused, { quotas: [roomy, quota(2)] })).rejects.toThrow(`${group} is full`);
      expect(await b.get(refused.id)).toBeUndefined();
      // Another group is not affected; a session that links no longer counts.
      expect(await b.insert(refused, { quotas: [quota(2, `${group}-other`)] })).toBe(true);
      expect(await b.replace(linked(first, `link-${first.id}`), 0)).toBe(true);
      expect(await a.insert(session([[20213, 20214]]), { quotas: [roomy, quota(2)] })).toBe(true);
      // An expired session no longer counts (fresh stores: a server gives all its sessions one lifetime).
      const [c, d] = await impl.open();
      const short = `${group}-short`;
      const soon = () => ({ expiresAt: Date.now() + 300 });
      expect(await c.insert(session([[20207, 20208]], soon()), { quotas: [quota(1, short)] })).toBe(true);
      await expect(d.insert(session([[20209, 20210]], soon()), { quotas: [quota(1, short)] })).rejects.toThrow(
        `${short} is full`,
      );
      await Bun.sleep(600);
      expect(await d.insert(session([[20211, 20212]], soon()), { quotas: [quota(1, short)] })).toBe(true);
    });

    test("a hold is bounded in the replace's step across both instances: past its bound it refuses and nothing is written", async () => {
      const [a, b] = await impl.open();
      const group = `test-held-${Math.random().toString(36).slice(2)}`;
      const hold = (bytes: number) => ({
        group,
        bytes,
        max: 1000,
        refusal: () => new Error(`${group} holds too much`),
      });
      const one = session([[20301, 20302]]);
      const two = session([[20303, 20304]]);
      expect(await a.insert(one)).toBe(true);
      expect(await b.insert(two)).toBe(true);
      expect(await a.replace({ ...one, version: 1 }, 0, hold(600))).toBe(true);
      await expect(b.replace({ ...two, version: 1 }, 0, hold(600))).rejects.toThrow(`${group} holds too much`);
      expect((await a.get(two.id))!.version).toBe(0);
      expect(await b.replace({ ...two, version: 1 }, 0, hold(400))).toBe(true);
    });

    test("inserts made at once, from both instances, each get their own answer: the limit, the cap and the code count every one of them in turn", async () => {
      const [a, b, onA, onB] = await impl.open();
      const live = await a.liveCount();
      const charge = (buckets: BucketStore) =>
        sharedLimiter({ perSecond: 0.01, burst: 40 }, "sessions", "test-together", buckets).charge("k");
      // 60 inserts started together (a Redis store sends those of one turn in one step): 40 tokens, a cap of 30
      // live, and every fifth one the code of the one before it.
      const records = Array.from({ length: 60 }, (_, i) => {
        const k = i % 5 === 4 ? i - 1 : i;
        return session([[20300 + k, 20400 + k]]);
      });
      const answers = await Promise.all(
        records.map((r, i) =>
          (i % 2 === 0 ? a : b)
            .insert(r, { charges: charge(i % 2 === 0 ? onA : onB), maxLive: live + 30 })
            .catch((e: Error) => e),
        ),
      );
      const inserted = records.filter((_, i) => answers[i] === true);
      const duplicate = answers.filter((x) => x === false).length;
      const limited = answers.filter((x) => x instanceof RateLimitError).length;
      const capped = answers.filter((x) => x instanceof Error && /too many live sessions/.test(x.message)).length;
      expect(inserted.length + duplicate + limited + capped).toBe(60);
      expect(limited).toBe(20); // 40 tokens for 60 requests, whichever instance they came through
      expect(inserted.length).toBe(30); // the cap
      expect(await a.liveCount()).toBe(live + 30);
      // No code twice among the inserted; each inserted one reads back, the others do not.
      expect(new Set(inserted.map((r) => r.tuples.flat().join(","))).size).toBe(30);
      for (const [i, r] of records.entries())
        expect((await b.get(r.id))?.id).toBe(answers[i] === true ? r.id : undefined);
    });

    test("liveCount counts pending sessions, not linked ones", async () => {
      const [a, b] = await impl.open();
      const before = await b.liveCount();
      const one = session([[20061, 20062]]);
      await a.insert(one);
      await a.insert(session([[20063, 20064]]));
      expect(await b.liveCount()).toBe(before + 2);
      await a.replace(linked(one, "link000000006"), 0);
      expect(await b.liveCount()).toBe(before + 1);
    });
  });
}

for (const backend of redisBackends) {
  test(`session store: ${backend.name}: a change on one instance wakes a wait on the other by pub/sub alone (its re-check off)`, async () => {
    const [one, two] = await backend.open();
    const writer = await redisStore(one, silentLogger);
    const waiter = await redisStore(two, silentLogger, { recheckMs: 600_000 });
    onCleanup(() => writer.close());
    onCleanup(() => waiter.close());
    const record = session([[20061, 20062]]);
    await writer.insert(record);
    // The subscription may still be on its way: change again until a wait begun before the change is woken.
    for (let version = 1; ; version++) {
      const signal = AbortSignal.timeout(2_000);
      const wait = waiter.changed(record.id, version - 1, signal).then(() => !signal.aborted);
      await Bun.sleep(50);
      expect(await writer.replace({ ...record, version }, version - 1)).toBe(true);
      if (await wait) break;
      if (version >= 5) throw new Error("no wait was woken by pub/sub in 5 changes");
    }
  });
}

describe("session store: Redis without its pub/sub", () => {
  /** A store whose subscriber hears nothing (as Bun's was seen to after a reconnect), and one that writes. */
  async function deafAndWriter(recheckMs: number): Promise<[SessionStore, SessionStore]> {
    const connection = await testConnection();
    const deaf = await redisStore({ ...connection, subscribe: async () => {} }, silentLogger, { recheckMs });
    const writer = await redisStore(connection, silentLogger);
    onCleanup(() => deaf.close());
    onCleanup(() => writer.close());
    return [deaf, writer];
  }

  test("a lost wake-up only delays the answer: a store whose subscriber hears nothing still wakes its waits", async () => {
    const [deaf, writer] = await deafAndWriter(250);
    const record = session([[20071, 20072]]);
    await writer.insert(record);
    const started = Date.now();
    let wokenAfter = -1;
    const wait = deaf
      .changed(record.id, 0, AbortSignal.timeout(20_000))
      .then(() => (wokenAfter = Date.now() - started));
    await Bun.sleep(100);
    expect(await writer.replace({ ...record, version: 1 }, 0)).toBe(true);
    await wait;
    // Woken by the change (read back as version 1), not by the 20 s deadline.
    expect((await deaf.get(record.id))?.version).toBe(1);
    expect(wokenAfter).toBeLessThan(20_000);
    console.log(`a wait without pub/sub woke ${wokenAfter - 100} ms after the change (re-check every 250 ms)`);
  });

  test("the re-check wakes only the waits that began before a change: a wait begun after it sleeps on until the next one", async () => {
    const [deaf, writer] = await deafAndWriter(100);
    const record = session([[20075, 20076]]);
    await writer.insert(record);
    expect(await writer.replace({ ...record, version: 1 }, 0)).toBe(true);
    await Bun.sleep(100);
    // Version 1 is in the list of recent changes for the next 10 s; a wait for what comes after it began later.
    let woken = -1;
    const started = Date.now();
    const wait = deaf.changed(record.id, 1, AbortSignal.timeout(20_000)).then((r) => (woken = Date.now() - started));
    await Bun.sleep(1_500); // 15 re-checks, each seeing version 1's change
    expect(woken).toBe(-1);
    expect(await writer.replace({ ...record, version: 2 }, 1)).toBe(true);
    await wait;
    expect(woken).toBeGreaterThanOrEqual(1_500);
    expect(woken).toBeLessThan(20_000);
  });
});
