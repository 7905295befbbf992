// The rate-limit buckets contract: memory and every Redis mode refuse alike, and Redis counts every instance.
import { afterAll, describe, expect, test } from "bun:test";
import { RateLimitError } from "../../../src/lib/errors.ts";
import { type BucketStore, sharedLimiter } from "../../../src/lib/rate-limit.ts";
import { memoryBuckets } from "../../../src/server/state/memory/buckets.ts";
import { redisBuckets } from "../../../src/server/state/redis/buckets.ts";
import { redisBackends, stopSharedDeployments } from "./backends.ts";

/** Two handles on one set of buckets (two instances). */
const bucketImplementations: Array<{ name: string; open(): Promise<[BucketStore, BucketStore]> }> = [
  {
    name: "memory",
    async open() {
      const store = memoryBuckets();
      return [store, store];
    },
  },
  ...redisBackends.map((backend) => ({
    name: backend.name,
    async open(): Promise<[BucketStore, BucketStore]> {
      const [a, b] = await backend.open();
      return [redisBuckets(a), redisBuckets(b)];
    },
  })),
];

afterAll(stopSharedDeployments);

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
