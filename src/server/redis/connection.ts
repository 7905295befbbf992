// One Redis connection per server process for commands and one for pub/sub, shared by every Redis-backed seam.
// Commands go through Bun's RedisClient (a round trip costs 18 us against ioredis' 84-178 us, measured here);
// pub/sub through ioredis, which subscribes again after a reconnect, where Bun's subscriber was seen to go deaf.
// A Sentinel deployment (redis+sentinel://) goes through ioredis alone (sentinel.ts): Bun's client speaks no Sentinel.
// Measured again for one node (bench/redis-clients.ts): Bun's client answers GET in 29 us (median) against ioredis'
// 48 us, and carries 300,000 commands/s against 190,000 (EVALSHA 211,000 against 131,000): it stays here.
import { RedisClient } from "bun";
import Redis from "ioredis";
import { ConfigError, StoreUnavailableError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/log.ts";
import { sentinelConnection } from "./sentinel.ts";
import { isSentinelUrl, parseSentinelUrl, sentinelWhere } from "./sentinel-url.ts";
import type { RedisConnection, RedisOptions } from "./types.ts";

export type { RedisConnection, RedisOptions, Script } from "./types.ts";

/** The URL as logs may show it: never the password. */
export function redisWhere(url: string): string {
  if (isSentinelUrl(url)) return sentinelWhere(url);
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname.length > 1 ? u.pathname : ""}`;
}

/** Checks a --store value that names Redis; throws ConfigError with one sentence. */
export function checkRedisUrl(url: string): void {
  if (isSentinelUrl(url)) {
    parseSentinelUrl(url);
    return;
  }
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

/**
 * Whether a failure is Redis refusing a command (a fault of ours: 500) rather than Redis being away (503). A
 * NOSCRIPT is a refusal too (Redis answered): script() loads the script then.
 */
const refused = (error: unknown) =>
  (error as { code?: string }).code === "ERR_REDIS_SERVER_ERROR" && !/^(LOADING|BUSY|MASTERDOWN|READONLY)/.test((error as Error).message);

/** Opens the connections; commands fail fast (no offline queue) while Redis is away, and reconnect by themselves. */
export function redisConnection(options: RedisOptions, log: Logger): RedisConnection {
  checkRedisUrl(options.url);
  if (isSentinelUrl(options.url)) return sentinelConnection(options, log);
  const where = redisWhere(options.url);
  const commandTimeout = options.commandTimeoutMs ?? 2_000;
  const connectTimeout = options.connectTimeoutMs ?? 2_000;
  // Requests fail at once with 503 while Redis is away, rather than queueing without a bound; the client
  // reconnects by itself (with growing pauses of its own, about 2 s once Redis has been gone a while).
  const client = new RedisClient(options.url, {
    enableOfflineQueue: false,
    autoReconnect: true,
    maxRetries: 4_294_967_295,
    connectionTimeout: connectTimeout,
    enableAutoPipelining: true,
  });
  // Whether Redis was away at the last word from it, so the log says each change once. The client's own
  // close and connect events do not fire for a connection lost and made again, so the commands' outcomes tell.
  let down = false;
  let closing = false;
  const wentAway = (error: unknown) => {
    if (down || closing) return;
    down = true;
    log.warn("the Redis store is unreachable; requests that need it get 503 until it answers", {
      store: where,
      error: (error as Error | undefined)?.message ?? "connection closed",
    });
  };
  const cameBack = () => {
    if (!down) return;
    down = false;
    log.info("the Redis store is reachable again", { store: where });
  };
  client.onclose = wentAway;
  client.onconnect = cameBack;
  let connecting: Promise<void> | undefined = client.connect().catch(() => {});
  void connecting.then(() => (connecting = undefined));

  let subscriber: Redis | undefined;
  const channels = new Map<string, (message: string) => void>();

  const unavailable = (error: unknown) =>
    new StoreUnavailableError(`the shared store (${where}) is unreachable; try again shortly`, { cause: error });

  // Commands waiting for an answer, with when they were sent: one sweep a quarter second fails those past
  // their deadline, where a timer per command cost a tenth of the time a request spends here.
  const pending = new Set<{ sentAt: number; reject: (error: unknown) => void }>();
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const entry of pending) {
      if (now - entry.sentAt < commandTimeout) continue;
      pending.delete(entry);
      const error = new Error(`no answer within ${commandTimeout} ms`);
      wentAway(error);
      entry.reject(unavailable(error));
    }
  }, 250);
  sweep.unref?.();

  function command(name: string, args: Array<string | number>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const entry = { sentAt: performance.now(), reject };
      pending.add(entry);
      client.send(name, args.map(String)).then(
        (value) => {
          pending.delete(entry);
          cameBack();
          resolve(value);
        },
        (error) => {
          pending.delete(entry);
          if (refused(error)) {
            cameBack(); // it answered
            reject(error);
            return;
          }
          wentAway(error);
          reject(unavailable(error));
        },
      );
    });
  }

  return {
    where,
    prefix: options.prefix ?? "pkipc:",
    command,
    script(lua) {
      const sha = new Bun.CryptoHasher("sha1").update(lua).digest("hex");
      return async (keys, args) => {
        try {
          return await command("EVALSHA", [sha, keys.length, ...keys, ...args]);
        } catch (error) {
          // Not loaded yet, or Redis restarted empty: EVAL loads it for the next time.
          if (!/^NOSCRIPT/.test((error as Error).message)) throw error;
          return command("EVAL", [lua, keys.length, ...keys, ...args]);
        }
      };
    },
    async subscribe(channel, onMessage) {
      if (!subscriber) {
        // Its own connection: a subscribed connection can run nothing else. ioredis subscribes again after
        // every reconnect; a wake-up lost meanwhile is caught by the store's re-check timer.
        subscriber = new Redis(options.url, {
          lazyConnect: true,
          connectTimeout,
          maxRetriesPerRequest: null,
          retryStrategy: (times: number) => Math.min(50 * times, 1_000),
        });
        subscriber.on("error", () => {}); // reported once by the command connection
        subscriber.on("message", (ch: string, message: string) => channels.get(ch)?.(message));
        subscriber.connect().catch(() => {});
      }
      channels.set(channel, onMessage);
      // Queued until the connection is up; not awaited beyond the deadline, since the re-check covers the gap.
      await Promise.race([subscriber.subscribe(channel).catch(() => {}), Bun.sleep(commandTimeout)]);
    },
    async ready(timeoutMs) {
      if (client.connected) return true;
      return Promise.race([(connecting ?? client.connect()).then(() => client.connected, () => false), Bun.sleep(timeoutMs).then(() => false)]);
    },
    async ping() {
      await command("PING", []);
    },
    async close() {
      closing = true;
      clearInterval(sweep);
      subscriber?.disconnect();
      client.close();
    },
  };
}
