// The replay cache in Redis: a nonce is accepted once across every instance, within the same bounds as in memory.
import { RateLimitError } from "../../lib/rate-limit.ts";
import type { NonceCache, NonceCacheOptions } from "../limits.ts";
import type { RedisConnection } from "./connection.ts";

// KEYS: all nonces, this service's. ARGV: service:nonce, nonce, until, now, maxPerService, maxEntries.
// Returns 1 new, 0 seen, -1 the service is at its quota, -2 the cache is full.
const REMEMBER = `
local now = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZSCORE', KEYS[2], ARGV[2]) then return 0 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return -1 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[6]) then return -2 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('PEXPIREAT', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1`;

/** Nonces in two sorted sets scored by when they may be forgotten (all, and per service); both expire with their last nonce. */
export function redisNonces(redis: RedisConnection, options: NonceCacheOptions): NonceCache {
  const maxEntries = options.maxEntries ?? 200_000;
  const maxPerService = options.maxPerService ?? 5_000;
  const now = options.now ?? Date.now;
  const all = `${redis.prefix}nonces`;
  const of = (serviceId: string) => `${redis.prefix}nonces:${serviceId}`;
  const remember = redis.script(REMEMBER);
  return {
    name: "redis",
    async remember(serviceId, nonce) {
      const t = now();
      const answer = Number(await remember([all, of(serviceId)], [`${serviceId}:${nonce}`, nonce, t + 2 * options.windowMs, t, maxPerService, maxEntries]));
      if (answer === -1) throw new RateLimitError("this service sent too many signed requests in the replay window; retry shortly", 1);
      if (answer === -2) throw new RateLimitError("too many signed requests in the replay window; retry shortly", 1);
      return answer === 1;
    },
    size: async () => Number(await redis.command("ZCOUNT", [all, `(${now()}`, "+inf"])),
    sizeOf: async (serviceId) => Number(await redis.command("ZCOUNT", [of(serviceId), `(${now()}`, "+inf"])),
  };
}
