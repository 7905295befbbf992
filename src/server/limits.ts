// The replay cache of signed requests: every nonce seen within the signature window, bounded.
import { type Charge, takeCharges } from "../lib/rate-limit.ts";
import { RateLimitError } from "../lib/errors.ts";

/**
 * Seen nonces, per service, for as long as a timestamp stays acceptable. Bounded in all and per service:
 * full means refuse, and a service at its own quota is refused without touching the others' room.
 */
export interface NonceCache {
  /** "memory" or "redis". */
  readonly name: string;
  /**
   * Records the nonce; false if it was seen already. Throws RateLimitError when the cache is full of live
   * nonces. First takes `charges` in the same step (as SessionStore.insert does): a refused one throws its
   * RateLimitError and the nonce is not stored.
   */
  remember(serviceId: string, nonce: string, charges?: readonly Charge[]): Promise<boolean>;
  /** Live nonces in all. */
  size(): Promise<number>;
  /** Live nonces of one service. */
  sizeOf(serviceId: string): Promise<number>;
}

export interface NonceCacheOptions {
  /** The signature window: a nonce is kept twice as long (a timestamp may be up to one window ahead). */
  windowMs: number;
  /** Nonces kept at most. Default 200,000. */
  maxEntries?: number;
  /** Nonces one service may hold. Default 5,000. */
  maxPerService?: number;
  now?: () => number;
}

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
      if (mine >= maxPerService) throw new RateLimitError("this service sent too many signed requests in the replay window; retry shortly", 1);
      if (seen.size >= maxEntries) throw new RateLimitError("too many signed requests in the replay window; retry shortly", 1);
      seen.set(key, { until: t + 2 * options.windowMs, serviceId });
      perService.set(serviceId, mine + 1);
      return true;
    },
    size: async () => (prune(now()), seen.size),
    sizeOf: async (serviceId) => (prune(now()), perService.get(serviceId) ?? 0),
  };
}
