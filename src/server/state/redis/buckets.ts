// Rate-limit buckets in Redis: every instance spends from the same bucket, refilled by the Redis clock.
import type { BucketStore, Charge } from "../../../lib/rate-limit.ts";
import type { RedisConnection } from "./connection.ts";

// A bucket refilled to `now` (ms, the Redis clock, so instances with skewed clocks agree) gives `cost` tokens
// when it holds at least one, and answers what it held. It is one string, "tokens at" (two commands a spend,
// where a hash took three), and expires once it would be full again: an absent bucket reads as full.
export const SPEND_FUNCTION = `
local function spend(key, rate, burst, cost, now)
  local b = redis.call('GET', key)
  local tokens = burst
  if b then
    local held, at = string.match(b, '^(%S+) (%S+)$')
    if held then tokens = math.min(burst, tonumber(held) + (now - tonumber(at)) / 1000 * rate) end
  end
  if cost > 0 and tokens >= 1 then
    local left = tokens - cost
    redis.call('SET', key, tostring(left) .. ' ' .. tostring(now), 'PX', math.ceil((burst - left) / rate * 1000) + 1000)
  end
  return tokens
end
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end`;

// KEYS: bucket. ARGV: perSecond, burst, cost.
const SPEND = `${SPEND_FUNCTION}
return tostring(spend(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), clock()))`;

/**
 * The start of a script that takes charges before its own work (see chargesFor): `charge()` takes one token
 * from each of the first ARGV[1] KEYS, in order, and answers 0, or the position of the first bucket that
 * held under one token and what it held (the buckets before it stay spent). The script's own keys and
 * arguments follow the charges': it reads them from K and A.
 */
export const CHARGE_PRELUDE = `${SPEND_FUNCTION}
local charged = tonumber(ARGV[1])
local function charge()
  if charged == 0 then return 0 end
  local now = clock()
  for i = 1, charged do
    local held = spend(KEYS[i], tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1]), 1, now)
    if held < 1 then return i, held end
  end
  return 0
end
-- Copied one by one: unpack refuses more than about 8,000 values, and a report may stand for more codes.
local K, A = {}, {}
for i = charged + 1, #KEYS do K[#K + 1] = KEYS[i] end
for i = 2 * charged + 2, #ARGV do A[#A + 1] = ARGV[i] end`;

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
 * The keys and arguments that put `charges` in front of a script opened with CHARGE_PRELUDE on `redis`, or
 * undefined when one of them lives elsewhere (then take them first, with takeCharges).
 */
export function chargesFor(redis: RedisConnection, charges: readonly Charge[]): { keys: string[]; args: Array<string | number> } | undefined {
  if (charges.some((c) => owners.get(c.buckets) !== redis)) return undefined;
  return {
    keys: charges.map((c) => bucketKey(redis, c.bucket)),
    args: [charges.length, ...charges.flatMap((c) => [c.spec.perSecond, c.spec.burst])],
  };
}
