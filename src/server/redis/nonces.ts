// The replay cache in Redis: a nonce is accepted once across every instance, within the same bounds as in memory.
import { takeCharges } from "../../lib/rate-limit.ts";
import type { NonceCache, NonceCacheOptions } from "../limits.ts";
import { CHARGE_PRELUDE, chargesFor } from "./buckets.ts";
import type { RedisConnection } from "./connection.ts";
import { RateLimitError } from "../../lib/errors.ts";

// Charges first (CHARGE_PRELUDE), then K: all nonces, this service's. A: service:nonce, nonce, until, now,
// maxPerService, maxEntries. Returns 1 new, 0 seen, -1 the service is at its quota, -2 the cache is full,
// or {position, tokens} of a refused charge (then the nonce is not stored).
const REMEMBER = `${CHARGE_PRELUDE}
local refused, held = charge()
if refused > 0 then return {refused, tostring(held)} end
local now = tonumber(A[4])
redis.call('ZREMRANGEBYSCORE', K[2], '-inf', now)
if redis.call('ZSCORE', K[2], A[2]) then return 0 end
if redis.call('ZCARD', K[2]) >= tonumber(A[5]) then return -1 end
redis.call('ZREMRANGEBYSCORE', K[1], '-inf', now)
if redis.call('ZCARD', K[1]) >= tonumber(A[6]) then return -2 end
redis.call('ZADD', K[2], A[3], A[2])
redis.call('PEXPIREAT', K[2], A[3])
redis.call('ZADD', K[1], A[3], A[1])
redis.call('PEXPIREAT', K[1], A[3])
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
    async remember(serviceId, nonce, charges = []) {
      // Charges on this Redis are taken by the script itself: one round trip for the signed request.
      let fused = chargesFor(redis, charges);
      if (!fused) {
        await takeCharges(charges);
        fused = { keys: [], args: [0] };
      }
      const t = now();
      const reply = await remember([...fused.keys, all, of(serviceId)], [...fused.args, `${serviceId}:${nonce}`, nonce, t + 2 * options.windowMs, t, maxPerService, maxEntries]);
      if (Array.isArray(reply)) throw charges[Number(reply[0]) - 1]!.refusal(Number(reply[1]));
      const answer = Number(reply);
      if (answer === -1) throw new RateLimitError("this service sent too many signed requests in the replay window; retry shortly", 1);
      if (answer === -2) throw new RateLimitError("too many signed requests in the replay window; retry shortly", 1);
      return answer === 1;
    },
    size: async () => Number(await redis.command("ZCOUNT", [all, `(${now()}`, "+inf"])),
    sizeOf: async (serviceId) => Number(await redis.command("ZCOUNT", [of(serviceId), `(${now()}`, "+inf"])),
  };
}
