// The replay cache of signed requests: every nonce seen within the signature window, bounded.
import { RateLimitError } from "../../../lib/errors.ts";
import { takeCharges } from "../../../lib/rate-limit.ts";
import type { NonceCache, NonceCacheOptions } from "../types.ts";

/** The replay cache in this process's memory. */
export function nonceCache(options: NonceCacheOptions): NonceCache {
  const maxEntries = options.maxEntries ?? 200_000;
  const maxPerService = options.maxPerService ?? 5_000;
  const perService = new Map<string, number>();
  const now = options.now ?? Date.now;
  // Entries go in arrival order and all live the same time (twice the window: a timestamp may be
  // up to one window in the future), so expired ones are always at the front.
  const seen = new Map<string, { until: number; serviceId: string }>();
  const prune = (t: number) => {
    for (const [key, entry] of seen) {
      if (entry.until > t) break;
      seen.delete(key);
      const left = (perService.get(entry.serviceId) ?? 1) - 1;
      if (left > 0) perService.set(entry.serviceId, left);
      else perService.delete(entry.serviceId);
    }
  };
  return {
    name: "memory",
    async remember(serviceId, nonce, charges = []) {
      if (charges.length > 0) await takeCharges(charges);
      const t = now();
      prune(t);
      const key = `${serviceId}:${nonce}`;
      if (seen.has(key)) return false;
      // Forgetting a live nonce would let its request be replayed: refuse new requests instead.
      const mine = perService.get(serviceId) ?? 0;
      if (mine >= maxPerService)
        throw new RateLimitError("this service sent too many signed requests in the replay window; retry shortly", 1);
      if (seen.size >= maxEntries)
        throw new RateLimitError("too many signed requests in the replay window; retry shortly", 1);
      seen.set(key, { until: t + 2 * options.windowMs, serviceId });
      perService.set(serviceId, mine + 1);
      return true;
    },
    size: async () => (prune(now()), seen.size),
    sizeOf: async (serviceId) => (prune(now()), perService.get(serviceId) ?? 0),
  };
}
