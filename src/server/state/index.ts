// Where a server keeps what its instances must agree on: memory (and the services file) for one, Redis for several.
import type { Logger } from "../../lib/log.ts";
import { serviceRegistry } from "./memory/registry.ts";
import type { SecuritySettings } from "../guard.ts";
import { redisBuckets } from "./redis/buckets.ts";
import { keyspace, type RedisConnection, redisConnection } from "./redis/connection.ts";
import { claimFormat, watchEpoch } from "./redis/epoch.ts";
import { ConfigError } from "../../lib/errors.ts";
import { redisNonces } from "./redis/nonces.ts";
import { redisRegistry } from "./redis/registry.ts";
import { memoryStore } from "./memory/sessions.ts";
import { redisStore } from "./redis/sessions.ts";
import type { BucketStore, NonceCache, ServiceRegistry, SessionStore } from "./types.ts";

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
  /** Throws StoreUnavailableError when the shared store does not answer, or lost its data and no operator acknowledged it. */
  ping(): Promise<void>;
  /** Clears a Redis data-loss flag (see redis/epoch.ts); false when none was set or the store is memory. */
  acknowledgeLoss(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Opens the state named by `store`: "memory" (the default), or a redis:// or rediss:// URL that every
 * instance of one deployment is given. A Redis that is down at start is not fatal: requests get 503
 * until it answers.
 */
export async function openState(
  store: string,
  security: SecuritySettings,
  log: Logger,
  sessions?: SessionStore,
  shared: Readonly<Record<string, string>> = {},
  /** How long a finished session stays readable, in ms (see sessions.ts, retentionFor). */
  retainMs?: number,
): Promise<SharedState> {
  if (store === "memory") {
    const memory = sessions ?? memoryStore(retainMs === undefined ? {} : { retainMs });
    return {
      where: "memory",
      store: memory,
      registry: serviceRegistry({ path: security.servicesFile }),
      ping: async () => {},
      acknowledgeLoss: async () => false,
      close: () => memory.close(),
    };
  }
  const redis = redisConnection({ url: store }, log);
  if (!(await redis.ready(CONNECT_WAIT_MS)))
    log.warn("the Redis store does not answer yet; requests get 503 until it does", { store: redis.where });
  else {
    await checkRedis(redis, log, shared);
    try {
      await claimFormat(redis);
    } catch (error) {
      if (!(error instanceof ConfigError))
        log.warn("could not read the Redis store's format", { error: (error as Error).message });
      else {
        await redis.close();
        throw error; // another pkipc whose data this one would misread: refuse to start
      }
    }
  }
  const epoch = watchEpoch(redis, log);
  const sessionStore = await redisStore(redis, log, retainMs === undefined ? {} : { retainMs });
  return {
    where: redis.where,
    store: sessionStore,
    registry: redisRegistry(redis),
    nonces: redisNonces(redis, {
      windowMs: security.signatureWindowMs,
      maxEntries: security.maxNonces,
      maxPerService: security.maxNoncesPerService,
    }),
    buckets: redisBuckets(redis),
    async ping() {
      await redis.ping();
      await epoch.check();
    },
    acknowledgeLoss: () => epoch.acknowledge(),
    async close() {
      epoch.close();
      await sessionStore.close();
      await redis.close();
    },
  };
}

/**
 * What an operator should hear at start about the Redis every instance shares, as warnings (nothing here
 * stops the server): a Redis that may lose enrolled services and API keys or evict nonces, and settings that
 * differ from those of the instance that started before this one. Each instance then stores its own.
 */
async function checkRedis(
  redis: RedisConnection,
  log: Logger,
  shared: Readonly<Record<string, string>>,
): Promise<void> {
  try {
    const config = (await redis.command("CONFIG", ["GET", "*"])) as unknown;
    const value = (name: string): string | undefined => {
      if (Array.isArray(config)) {
        const i = config.indexOf(name);
        return i >= 0 && i % 2 === 0 ? String(config[i + 1]) : undefined;
      }
      return config && typeof config === "object" ? (config as Record<string, string>)[name] : undefined;
    };
    if (value("appendonly") === "no") {
      log.warn(
        "this Redis keeps no append-only file (appendonly no): enrolled services and API keys are lost if it restarts; set appendonly yes",
        { store: redis.where },
      );
    }
    const policy = value("maxmemory-policy");
    if (policy !== undefined && policy !== "noeviction") {
      log.warn(
        `this Redis may evict keys (maxmemory-policy ${policy}): an evicted nonce allows a replay; set maxmemory-policy noeviction`,
        { store: redis.where },
      );
    }
  } catch (error) {
    // A managed Redis may refuse CONFIG: then the README's requirements are the operator's to check.
    log.debug("could not read the Redis configuration", { error: (error as Error).message });
  }
  if (Object.keys(shared).length === 0) return;
  const key = `${keyspace(redis, "meta")}settings`;
  try {
    const before = await redis.command("GET", [key]);
    if (typeof before === "string") {
      const other = JSON.parse(before) as Record<string, string>;
      const differ = Object.keys(shared).filter((k) => k in other && other[k] !== shared[k]);
      if (differ.length > 0) {
        log.warn(
          "this instance's settings differ from those of the instance that started before it on this Redis; every instance needs the same",
          {
            differ: differ.map((k) => `${k} ${shared[k]} (other: ${other[k]})`).join("; "),
          },
        );
      }
    }
    await redis.command("SET", [key, JSON.stringify(shared)]);
  } catch (error) {
    log.debug("could not compare settings with the other instances", { error: (error as Error).message });
  }
}
