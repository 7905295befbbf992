// Rate-limit buckets in this process's memory: one instance counts alone (Redis' buckets count every instance).
import { bucketMap } from "../../../lib/rate-limit.ts";
import type { BucketStore } from "../types.ts";

/** Buckets in a bounded map, as the CLI's own limits keep them (least recently used go past maxKeys, default 65,536). */
export function memoryBuckets(options: { maxKeys?: number; now?: () => number } = {}): BucketStore {
  const buckets = bucketMap(options);
  return { name: "memory", spend: async (key, spec, cost) => buckets.spend(key, spec, cost) };
}
