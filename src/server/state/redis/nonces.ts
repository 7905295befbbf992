// The replay cache in Redis: a nonce is accepted once across every instance, within the same bounds as in memory.
import { RateLimitError } from "../../../lib/errors.ts";
import { takeCharges } from "../../../lib/rate-limit.ts";
import type { NonceCache, NonceCacheOptions } from "../types.ts";
import { chargesFor } from "./buckets.ts";
import { keyspace, type RedisConnection } from "./connection.ts";
import { REMEMBER } from "./scripts/index.ts";

/** Nonces in two sorted sets scored by when they may be forgotten (all, and per service); both expire with their last nonce. */
export function redisNonces(redis: RedisConnection, options: NonceCacheOptions): NonceCache {
  const maxEntries = options.maxEntries ?? 200_000;
  const maxPerService = options.maxPerService ?? 5_000;
  const now = options.now ?? Date.now;
  // One hash tag for both in a Cluster: the bound on all nonces is checked with the service's own.
  const all = `${keyspace(redis, "nonces")}nonces`;
  const of = (serviceId: string) => `${keyspace(redis, "nonces")}nonces:${serviceId}`;
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
      const reply = await remember(
        [...fused.keys, all, of(serviceId)],
        [...fused.args, `${serviceId}:${nonce}`, nonce, t + 2 * options.windowMs, t, maxPerService, maxEntries],
      );
      if (Array.isArray(reply)) throw charges[Number(reply[0]) - 1]!.refusal(Number(reply[1]));
      const answer = Number(reply);
      if (answer === -1)
        throw new RateLimitError("this service sent too many signed requests in the replay window; retry shortly", 1);
      if (answer === -2) throw new RateLimitError("too many signed requests in the replay window; retry shortly", 1);
      return answer === 1;
    },
    size: async () => Number(await redis.command("ZCOUNT", [all, `(${now()}`, "+inf"])),
    sizeOf: async (serviceId) => Number(await redis.command("ZCOUNT", [of(serviceId), `(${now()}`, "+inf"])),
  };
}
