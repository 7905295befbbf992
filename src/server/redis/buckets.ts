// Rate-limit buckets in Redis: every instance spends from the same bucket, refilled by the Redis clock.
import type { BucketStore } from "../../lib/rate-limit.ts";
import type { RedisConnection } from "./connection.ts";

// KEYS: bucket. ARGV: perSecond, burst, cost. The Redis clock, so instances with skewed clocks agree.
// A bucket expires once it would be full again: an absent bucket reads as full.
const SPEND = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = burst
if b[1] then tokens = math.min(burst, tonumber(b[1]) + (now - tonumber(b[2])) / 1000 * rate) end
local held = tokens
if cost > 0 and held >= 1 then
  tokens = tokens - cost
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
end
return tostring(held)`;

/** Buckets shared by every instance on `redis`; keys `<prefix>rl:<limit>:<key>`, gone once refilled. */
export function redisBuckets(redis: RedisConnection): BucketStore {
  const spend = redis.script(SPEND);
  return {
    name: "redis",
    async spend(key, spec, cost) {
      return Number(await spend([`${redis.prefix}rl:${key}`], [spec.perSecond, spec.burst, cost]));
    },
  };
}
