// The replay cache of signed requests: every nonce seen within the signature window, bounded.
import { RateLimitError } from "../lib/rate-limit.ts";

/** Seen nonces, per service, for as long as a timestamp stays acceptable. Bounded: full means refuse. */
export function nonceCache(options: { windowMs: number; maxEntries?: number; now?: () => number }) {
  const maxEntries = options.maxEntries ?? 200_000;
  const now = options.now ?? Date.now;
  // Entries go in arrival order and all live the same time (twice the window: a timestamp may be
  // up to one window in the future), so expired ones are always at the front.
  const seen = new Map<string, number>();
  const prune = (t: number) => {
    for (const [key, until] of seen) {
      if (until > t) break;
      seen.delete(key);
    }
  };
  return {
    /** Records the nonce; false if it was seen already. Throws RateLimitError when the cache is full of live nonces. */
    remember(serviceId: string, nonce: string): boolean {
      const t = now();
      prune(t);
      const key = `${serviceId}:${nonce}`;
      if (seen.has(key)) return false;
      // Forgetting a live nonce would let its request be replayed: refuse new requests instead.
      if (seen.size >= maxEntries) throw new RateLimitError("too many signed requests in the replay window; retry shortly", 1);
      seen.set(key, t + 2 * options.windowMs);
      return true;
    },
    size: () => seen.size,
  };
}
