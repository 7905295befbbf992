// The replay cache and rate-limit bucket contracts: memory and Redis refuse alike, and Redis counts every instance.
import { describe, expect, test } from "bun:test";
import { type BucketStore, memoryBuckets, sharedLimiter } from "../../../src/lib/rate-limit.ts";
import { type NonceCache, type NonceCacheOptions, nonceCache } from "../../../src/server/limits.ts";
import { redisBuckets } from "../../../src/server/redis/buckets.ts";
import { redisNonces } from "../../../src/server/redis/nonces.ts";
import { testConnection } from "./backends.ts";
import { RateLimitError } from "../../../src/lib/errors.ts";

/** Two handles on one replay cache (two instances), then the buckets each opens beside it. */
const nonceImplementations: Array<{ name: string; open(options: NonceCacheOptions): Promise<[NonceCache, NonceCache, BucketStore, BucketStore]> }> = [
  {
    name: "memory",
    async open(options) {
      const cache = nonceCache(options);
      const buckets = memoryBuckets();
      return [cache, cache, buckets, buckets];
    },
  },
  {
    name: "redis",
    async open(options) {
      const connection = await testConnection();
      return [redisNonces(connection, options), redisNonces(connection, options), redisBuckets(connection), redisBuckets(connection)];
    },
  },
];

for (const impl of nonceImplementations) {
  describe(`nonce cache contract: ${impl.name}`, () => {
    test("a nonce is accepted once, by any instance; the same nonce of another service is its own", async () => {
      const [a, b] = await impl.open({ windowMs: 60_000 });
      expect(await a.remember("service-a", "nonce-0000000001")).toBe(true);
      expect(await b.remember("service-a", "nonce-0000000001")).toBe(false);
      expect(await b.remember("service-b", "nonce-0000000001")).toBe(true);
      const raced = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).remember("service-a", "nonce-0000000002")));
      expect(raced.filter(Boolean)).toHaveLength(1);
      expect(await a.size()).toBe(3);
      expect(await b.sizeOf("service-a")).toBe(2);
    });

    test("a service at its quota is refused without taking the others' room; a full cache refuses all; nonces are forgotten after twice the window", async () => {
      const [a, b] = await impl.open({ windowMs: 100, maxPerService: 2, maxEntries: 3 });
      await a.remember("s1", "n1");
      await b.remember("s1", "n2");
      await expect(a.remember("s1", "n3")).rejects.toBeInstanceOf(RateLimitError);
      expect(await b.remember("s2", "n1")).toBe(true);
      await expect(b.remember("s3", "n1")).rejects.toThrow(/too many signed requests in the replay window/);
      await Bun.sleep(250);
      expect(await a.remember("s1", "n3")).toBe(true);
      expect(await a.size()).toBe(1);
    });

    test("charges are taken with the nonce: a spent limit answers 429 and stores nothing; both instances spend one bucket", async () => {
      const [a, b, onA, onB] = await impl.open({ windowMs: 60_000 });
      const spec = { perSecond: 0.01, burst: 2 };
      const charge = (buckets: BucketStore) => sharedLimiter(spec, "signed requests", "test-signed", buckets).charge("s1");
      expect(await a.remember("s1", "n1", charge(onA))).toBe(true);
      // A replay is refused as before, and still counts.
      expect(await b.remember("s1", "n1", charge(onB))).toBe(false);
      await expect(b.remember("s1", "n2", charge(onB))).rejects.toThrow(/^too many signed requests; at most 0.01\/s/);
      expect(await a.sizeOf("s1")).toBe(1);
      expect(await a.remember("s1", "n2")).toBe(true);
    });
  });
}

const bucketImplementations: Array<{ name: string; open(): Promise<[BucketStore, BucketStore]> }> = [
  {
    name: "memory",
    async open() {
      const store = memoryBuckets();
      return [store, store];
    },
  },
  {
    name: "redis",
    async open() {
      const connection = await testConnection();
      return [redisBuckets(connection), redisBuckets(connection)];
    },
  },
];

for (const impl of bucketImplementations) {
  describe(`rate-limit buckets contract: ${impl.name}`, () => {
    test("a limit counts every instance's requests: the burst is shared, then 429 with Retry-After, then refills", async () => {
      const [a, b] = await impl.open();
      const spec = { perSecond: 10, burst: 4 };
      const onA = sharedLimiter(spec, "tests", "test", a);
      const onB = sharedLimiter(spec, "tests", "test", b);
      await onA.take("k");
      await onB.take("k");
      await onA.take("k");
      await onB.check("k"); // a check takes nothing
      await onB.take("k");
      const refused = await onA.take("k").catch((e) => e);
      expect(refused).toBeInstanceOf(RateLimitError);
      expect((refused as RateLimitError).retryAfterSeconds).toBe(1);
      await expect(onB.check("k")).rejects.toBeInstanceOf(RateLimitError);
      // Another key and another limit of the same name space have buckets of their own.
      await onB.take("other");
      await sharedLimiter(spec, "tests", "test2", b).take("k");
      await Bun.sleep(250);
      await onB.take("k");
    });

    test("concurrent takes from two instances never pass the burst", async () => {
      const [a, b] = await impl.open();
      const spec = { perSecond: 0.01, burst: 5 };
      const limiters = [sharedLimiter(spec, "tests", "race", a), sharedLimiter(spec, "tests", "race", b)];
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => limiters[i % 2]!.take("k")));
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(5);
    });

    test("a rate of 0 turns the limit off", async () => {
      const [a] = await impl.open();
      const off = sharedLimiter({ perSecond: 0, burst: 0 }, "tests", "off", a);
      for (let i = 0; i < 5; i++) await off.take("k");
    });
  });
}
