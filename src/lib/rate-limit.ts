// Rate limits: token buckets keyed by service, address or process, in a bounded map or a shared store (the server's
// BucketStore implementations live in src/server/state/{memory,redis}/buckets.ts); 429 with Retry-After.
import { RateLimitError } from "./errors.ts";

/** A sustained rate and the burst allowed on top of it; a rate of 0 turns the limit off. */
export interface RateSpec {
  /** Tokens added per second. */
  perSecond: number;
  /** Bucket size: how many requests may arrive at once. */
  burst: number;
}

export interface RateLimiter {
  /** Takes one token for `key`, or throws RateLimitError naming `what`. */
  take(key: string): void;
  /** Throws RateLimitError like take() when `key` has no token left, without taking one. */
  check(key: string): void;
  /** Keys tracked now (never above maxKeys). */
  size(): number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * A token bucket per key. The map is bounded: past `maxKeys` the least recently used bucket goes.
 * An evicted key starts again with a full bucket, so the bound must sit well above the number of
 * active keys (default 65,536: one per address of a busy /16).
 */
export function rateLimiter(
  spec: RateSpec,
  what: string,
  options: { maxKeys?: number; now?: () => number } = {},
): RateLimiter {
  const buckets = bucketMap(options);
  const spend = (key: string, cost: 0 | 1) => {
    if (spec.perSecond <= 0) return;
    const held = buckets.spend(key, spec, cost);
    if (held < 1) throw refusal(spec, what, held);
  };
  return { check: (key) => spend(key, 0), take: (key) => spend(key, 1), size: buckets.size };
}

/** The 429 of a limit whose bucket held `tokens` (under 1), with how long until one is back. */
function refusal(spec: RateSpec, what: string, tokens: number): RateLimitError {
  const wait = Math.max(1, Math.ceil((1 - tokens) / spec.perSecond));
  return new RateLimitError(
    `too many ${what}; at most ${spec.perSecond}/s (bursts of ${spec.burst}); retry in ${wait} s`,
    wait,
  );
}

/**
 * Token buckets by key in a bounded map (least recently used go past maxKeys). `spend` refills bucket
 * `key` to now, takes `cost` tokens when it holds at least one, and answers what it held before.
 */
export function bucketMap(options: { maxKeys?: number; now?: () => number }) {
  const maxKeys = options.maxKeys ?? 65_536;
  const now = options.now ?? Date.now;
  const buckets = new Map<string, Bucket>();
  return {
    spend(key: string, spec: RateSpec, cost: 0 | 1): number {
      const t = now();
      let bucket = buckets.get(key);
      if (bucket) {
        buckets.delete(key); // re-inserted below: the map's order is least recently used first
        bucket.tokens = Math.min(spec.burst, bucket.tokens + ((t - bucket.at) / 1000) * spec.perSecond);
        bucket.at = t;
      } else {
        bucket = { tokens: spec.burst, at: t };
        if (buckets.size >= maxKeys) buckets.delete(buckets.keys().next().value!);
      }
      buckets.set(key, bucket);
      const held = bucket.tokens;
      if (held >= 1) bucket.tokens -= cost;
      return held;
    },
    size: () => buckets.size,
  };
}

/**
 * Where the server's buckets live: this process's memory, or a store every instance shares, so a limit
 * counts every instance's requests. `spend` refills bucket `key` to now, takes `cost` tokens (0 or 1)
 * when it holds at least one, and answers the tokens it held before: under 1 means refused.
 */
export interface BucketStore {
  readonly name: string;
  spend(key: string, spec: RateSpec, cost: 0 | 1): Promise<number>;
}

/** A rate limit of the server: like RateLimiter, asynchronous so the buckets may be shared. */
export interface SharedLimiter {
  take(key: string): Promise<void>;
  check(key: string): Promise<void>;
  /** The token take(key) would take, for a store to take in the same step as its write; none when the limit is off. */
  charge(key: string): Charge[];
}

/**
 * One token a request owes a limit. A store that holds the buckets too (Redis) takes it inside the write
 * the request makes, in one round trip; any other takes it first with takeCharges.
 */
export interface Charge {
  /** The bucket's key in `buckets` ("<limit>:<key>"). */
  readonly bucket: string;
  readonly spec: RateSpec;
  readonly buckets: BucketStore;
  /** The 429 for a bucket that held `tokens` (under 1). */
  refusal(tokens: number): RateLimitError;
}

/** Takes each charge in order; the first refused throws its 429, and the ones before it stay taken (as separate takes would). */
export async function takeCharges(charges: readonly Charge[]): Promise<void> {
  for (const charge of charges) {
    const held = await charge.buckets.spend(charge.bucket, charge.spec, 1);
    if (held < 1) throw charge.refusal(held);
  }
}

/** A limit of `spec` per key over `store`; `name` keeps its buckets apart from the other limits' in the store. */
export function sharedLimiter(spec: RateSpec, what: string, name: string, store: BucketStore): SharedLimiter {
  const spend = async (key: string, cost: 0 | 1) => {
    if (spec.perSecond <= 0) return;
    const held = await store.spend(`${name}:${key}`, spec, cost);
    if (held < 1) throw refusal(spec, what, held);
  };
  const refuse = (tokens: number) => refusal(spec, what, tokens);
  return {
    take: (key) => spend(key, 1),
    check: (key) => spend(key, 0),
    charge: (key) => (spec.perSecond <= 0 ? [] : [{ bucket: `${name}:${key}`, spec, buckets: store, refusal: refuse }]),
  };
}
