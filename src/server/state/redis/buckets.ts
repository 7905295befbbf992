// Rate-limit buckets in Redis: every instance spends from the same bucket, refilled by the Redis clock.
import type { BucketStore, Charge } from "../types.ts";
import type { RedisConnection } from "./connection.ts";
import { SPEND } from "./scripts/index.ts";

// "rate:", not the "rl:" of the hashes earlier versions kept: the two never read each other's keys.
const bucketKey = (redis: RedisConnection, bucket: string) => `${redis.prefix}rate:${bucket}`;

/** Buckets shared by every instance on `redis`; keys `<prefix>rate:<limit>:<key>`, gone once refilled. */
export function redisBuckets(redis: RedisConnection): BucketStore {
  const spend = redis.script(SPEND);
  const store: BucketStore = {
    name: "redis",
    async spend(key, spec, cost) {
      return Number(await spend([bucketKey(redis, key)], [spec.perSecond, spec.burst, cost]));
    },
  };
  owners.set(store, redis);
  return store;
}

/** Which connection each Redis bucket store spends on: a script on the same connection may take its charges itself. */
const owners = new WeakMap<BucketStore, RedisConnection>();

/**
 * The keys and arguments that put `charges` in front of a script that begins with lib-charge.lua (scripts/) on `redis`, or
 * undefined when one of them lives elsewhere (then take them first, with takeCharges).
 */
export function chargesFor(
  redis: RedisConnection,
  charges: readonly Charge[],
): { keys: string[]; args: Array<string | number> } | undefined {
  // In a Cluster a bucket is in a slot of its own, not the script's: the charges are taken first there.
  if (redis.cluster || charges.some((c) => owners.get(c.buckets) !== redis)) return undefined;
  return {
    keys: charges.map((c) => bucketKey(redis, c.bucket)),
    args: [charges.length, ...charges.flatMap((c) => [c.spec.perSecond, c.spec.burst])],
  };
}
