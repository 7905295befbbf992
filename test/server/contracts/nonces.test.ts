// The replay cache contract: memory and every Redis mode accept a nonce once and refuse alike, and Redis counts every instance.
import { afterAll, describe, expect, test } from "bun:test";
import { RateLimitError } from "../../../src/lib/errors.ts";
import { type BucketStore, sharedLimiter } from "../../../src/lib/rate-limit.ts";
import { memoryBuckets } from "../../../src/server/state/memory/buckets.ts";
import { nonceCache } from "../../../src/server/state/memory/nonces.ts";
import type { NonceCache, NonceCacheOptions } from "../../../src/server/state/types.ts";
import { redisBuckets } from "../../../src/server/state/redis/buckets.ts";
import { redisNonces } from "../../../src/server/state/redis/nonces.ts";
import { redisBackends, stopSharedDeployments } from "./backends.ts";

/** Two handles on one replay cache (two instances), then the buckets each opens beside it. */
const nonceImplementations: Array<{
  name: string;
  open(options: NonceCacheOptions): Promise<[NonceCache, NonceCache, BucketStore, BucketStore]>;
}> = [
  {
    name: "memory",
    async open(options) {
      const cache = nonceCache(options);
      const buckets = memoryBuckets();
      return [cache, cache, buckets, buckets];
    },
  },
  ...redisBackends.map((backend) => ({
    name: backend.name,
    async open(options: NonceCacheOptions): Promise<[NonceCache, NonceCache, BucketStore, BucketStore]> {
      const [a, b] = await backend.open();
      return [redisNonces(a, options), redisNonces(b, options), redisBuckets(a), redisBuckets(b)];
    },
  })),
];

afterAll(stopSharedDeployments);

for (const impl of nonceImplementations) {
  describe(`nonce cache contract: ${impl.name}`, () => {
    test("a nonce is accepted once, by any instance; the same nonce of another service is its own", async () => {
      const [a, b] = await impl.open({ windowMs: 60_000 });
      expect(await a.remember("service-a", "nonce-0000000001")).toBe(true);
      expect(await b.remember("service-a", "nonce-0000000001")).toBe(false);
      expect(await b.remember("service-b", "nonce-0000000001")).toBe(true);
      const raced = await Promise.all(
        Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).remember("service-a", "nonce-0000000002")),
      );
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
      const charge = (buckets: BucketStore) =>
        sharedLimiter(spec, "signed requests", "test-signed", buckets).charge("s1");
      expect(await a.remember("s1", "n1", charge(onA))).toBe(true);
      // A replay is refused as before, and still counts.
      expect(await b.remember("s1", "n1", charge(onB))).toBe(false);
      await expect(b.remember("s1", "n2", charge(onB))).rejects.toThrow(/^too many signed requests; at most 0.01\/s/);
      expect(await a.sizeOf("s1")).toBe(1);
      expect(await a.remember("s1", "n2")).toBe(true);
    });
  });
}
