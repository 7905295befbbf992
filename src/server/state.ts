// Where a server keeps what its instances must agree on: memory (and the services file) for one, Redis for several.
import type { Logger } from "../lib/log.ts";
import type { BucketStore } from "../lib/rate-limit.ts";
import { type ServiceRegistry, serviceRegistry } from "./enroll.ts";
import type { SecuritySettings } from "./guard.ts";
import type { NonceCache } from "./limits.ts";
import { redisBuckets } from "./redis/buckets.ts";
import { redisConnection } from "./redis/connection.ts";
import { redisNonces } from "./redis/nonces.ts";
import { redisRegistry } from "./redis/registry.ts";
import { memoryStore } from "./store/memory.ts";
import { redisStore } from "./store/redis.ts";
import type { SessionStore } from "./store/types.ts";

/** How long a start waits for Redis before serving anyway (with 503 until Redis answers). */
const CONNECT_WAIT_MS = 3_000;

/** Every seam of shared state, opened together; nonces and buckets absent means the guard's own in memory. */
export interface SharedState {
  /** "memory" or the Redis URL without its password: shown on /healthz and in the start log. */
  where: string;
  store: SessionStore;
  registry: ServiceRegistry;
  nonces?: NonceCache;
  buckets?: BucketStore;
  /** Throws StoreUnavailableError when the shared store does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens the state named by `store`: "memory" (the default), or a redis:// or rediss:// URL that every
 * instance of one deployment is given. A Redis that is down at start is not fatal: requests get 503
 * until it answers.
 */
export async function openState(store: string, security: SecuritySettings, log: Logger, sessions?: SessionStore): Promise<SharedState> {
  if (store === "memory") {
    const memory = sessions ?? memoryStore();
    return {
      where: "memory",
      store: memory,
      registry: serviceRegistry({ path: security.servicesFile }),
      ping: async () => {},
      close: () => memory.close(),
    };
  }
  const redis = redisConnection({ url: store }, log);
  if (!(await redis.ready(CONNECT_WAIT_MS))) log.warn("the Redis store does not answer yet; requests get 503 until it does", { store: redis.where });
  const sessionStore = await redisStore(redis, log);
  return {
    where: redis.where,
    store: sessionStore,
    registry: redisRegistry(redis),
    nonces: redisNonces(redis, { windowMs: security.signatureWindowMs, maxEntries: security.maxNonces, maxPerService: security.maxNoncesPerService }),
    buckets: redisBuckets(redis),
    ping: () => redis.ping(),
    async close() {
      await sessionStore.close();
      await redis.close();
    },
  };
}
