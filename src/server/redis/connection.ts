// One Redis connection per server process for commands and one for pub/sub, shared by every Redis-backed seam.
import Redis, { ReplyError } from "ioredis";
import { ConfigError, PkipcError, StoreUnavailableError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/log.ts";

export interface RedisOptions {
  /** redis://[user:pass@]HOST:PORT[/DB] or rediss://... */
  url: string;
  /** Deadline of one command, in ms; past it the request fails with 503. Default 2,000. */
  commandTimeoutMs?: number;
  /** Deadline of one connection attempt, in ms. Default 2,000. */
  connectTimeoutMs?: number;
  /** Prefix of every key, so one Redis can hold other data beside pkipc's. Default "pkipc:". */
  prefix?: string;
}

/** A Lua script with its keys and arguments; runs by EVALSHA, loaded again after a Redis restart. */
export type Script = (keys: string[], args: Array<string | number>) => Promise<unknown>;

export interface RedisConnection {
  /** The URL without its password, for logs and /healthz. */
  readonly where: string;
  readonly prefix: string;
  /** Runs commands; a lost or slow Redis becomes StoreUnavailableError (503), a refused command a plain Error. */
  run<T>(fn: (client: Redis) => Promise<T>): Promise<T>;
  /** Defines a Lua script once; calling it runs it atomically on the server. */
  script(lua: string): Script;
  /** Calls `onMessage` for every message on `channel`, resubscribing after each reconnect. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<void>;
  /** Resolves once connected, or after `timeoutMs` (then requests get 503 until it connects). */
  ready(timeoutMs: number): Promise<boolean>;
  /** Throws StoreUnavailableError unless Redis answers PING within the command deadline. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The URL as logs may show it: never the password. */
export function redisWhere(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname.length > 1 ? u.pathname : ""}`;
}

/** Checks a --store value that names Redis; throws ConfigError with one sentence. */
export function checkRedisUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`${url.slice(0, 200)} is not a URL; use redis://[user:pass@]HOST:PORT[/DB]`);
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") throw new ConfigError(`the store must be memory or a redis:// or rediss:// URL, not ${u.protocol}`);
  if (!u.hostname) throw new ConfigError(`${redisWhere(url)} names no host; use redis://HOST:PORT`);
  if (u.pathname.length > 1 && !/^\/\d{1,2}$/.test(u.pathname)) throw new ConfigError(`the Redis database in ${redisWhere(url)} must be a number (/0 to /15)`);
}

/** Opens the connections; commands fail fast (no offline queue) while Redis is away, and reconnect by themselves. */
export function redisConnection(options: RedisOptions, log: Logger): RedisConnection {
  checkRedisUrl(options.url);
  const where = redisWhere(options.url);
  const commandTimeout = options.commandTimeoutMs ?? 2_000;
  const common = {
    // Requests fail at once with 503 while Redis is away, rather than queueing without a bound.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout,
    connectTimeout: options.connectTimeoutMs ?? 2_000,
    // Reconnect for ever, at most a second apart, so an instance recovers by itself when Redis is back.
    retryStrategy: (times: number) => Math.min(50 * times, 1_000),
    lazyConnect: true,
  };
  const client = new Redis(options.url, common);
  let subscriber: Redis | undefined;
  const channels = new Map<string, (message: string) => void>();
  let down = false;
  client.on("error", (error: Error) => {
    if (!down) log.warn("the Redis store is unreachable", { store: where, error: error.message });
    down = true;
  });
  client.on("ready", () => {
    if (down) log.info("the Redis store is reachable again", { store: where });
    down = false;
  });
  // The first connection is awaited by nobody: until it is up, requests get 503.
  client.connect().catch(() => {});

  const unavailable = (error: unknown) =>
    new StoreUnavailableError(`the shared store (${where}) is unreachable; try again shortly`, { cause: error });

  async function run<T>(fn: (client: Redis) => Promise<T>): Promise<T> {
    try {
      return await fn(client);
    } catch (error) {
      if (error instanceof PkipcError) throw error;
      // A refused command (a script error, a wrong type) is a fault of ours, not of the network: a 500.
      if (error instanceof ReplyError && !/^(LOADING|BUSY|MASTERDOWN|READONLY|NOSCRIPT)/.test((error as Error).message)) throw error;
      throw unavailable(error);
    }
  }

  return {
    where,
    prefix: options.prefix ?? "pkipc:",
    run,
    script(lua) {
      const name = `pkipc${Bun.hash(lua).toString(36)}`;
      client.defineCommand(name, { lua });
      const call = (client as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[name]!.bind(client);
      return (keys, args) => run(() => call(keys.length, ...keys, ...args));
    },
    async subscribe(channel, onMessage) {
      if (!subscriber) {
        // Its own connection: a subscribed connection can run nothing else. ioredis subscribes again after
        // every reconnect; a wake-up lost meanwhile is caught by the store's re-check timer.
        subscriber = new Redis(options.url, { ...common, enableOfflineQueue: true, commandTimeout: undefined });
        subscriber.on("error", () => {}); // reported once by the command connection
        subscriber.on("message", (ch: string, message: string) => channels.get(ch)?.(message));
        subscriber.connect().catch(() => {});
      }
      channels.set(channel, onMessage);
      // Queued until the connection is up; not awaited beyond the deadline, since the timer covers the gap.
      await Promise.race([subscriber.subscribe(channel).catch(() => {}), Bun.sleep(commandTimeout)]);
    },
    async ready(timeoutMs) {
      if (client.status === "ready") return true;
      let onReady!: () => void;
      const ready = new Promise<boolean>((resolve) => client.once("ready", (onReady = () => resolve(true))));
      const timer = Bun.sleep(timeoutMs).then(() => false);
      const answer = await Promise.race([ready, timer]);
      client.off("ready", onReady);
      return answer;
    },
    async ping() {
      await run((c) => c.ping());
    },
    async close() {
      subscriber?.disconnect();
      client.disconnect();
    },
  };
}
