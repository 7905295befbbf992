// One Redis connection per server process for commands and one for pub/sub, shared by every Redis-backed seam.
// Commands go through Bun's RedisClient (a round trip costs 18 us against ioredis' 84-178 us, measured here);
// pub/sub through ioredis, which subscribes again after a reconnect, where Bun's subscriber was seen to go deaf.
// A Sentinel deployment (redis+sentinel://) and a Cluster (redis+cluster://) go through ioredis alone (sentinel.ts,
// cluster.ts): Bun's client speaks neither.
// Measured again for one node (bench/redis-clients.ts): Bun's client answers GET in 29 us (median) against ioredis'
// 48 us, and carries 300,000 commands/s against 190,000 (EVALSHA 211,000 against 131,000): it stays here.
import { RedisClient } from "bun";
import Redis from "ioredis";
import { ConfigError } from "../../../lib/errors.ts";
import type { Logger } from "../../../lib/log.ts";
import { channelSubscriber, connectionOf } from "./shared.ts";
import { reachability } from "./reachability.ts";
import type { RedisConnection, RedisOptions } from "./types.ts";
import { clusterConnection } from "./cluster.ts";
import { clusterWhere, isClusterUrl, parseClusterUrl } from "./cluster-url.ts";
import { sentinelConnection } from "./sentinel.ts";
import { isSentinelUrl, parseSentinelUrl, sentinelWhere } from "./sentinel-url.ts";

export type { LuaScript, RedisConnection, RedisOptions, Script } from "./types.ts";

/**
 * The prefix of the keys of one kind of state. On one Redis (or Sentinel) it is the prefix alone, as it always was;
 * in a Cluster it carries a hash tag per kind ("pkipc:{sessions}:"), so that every key a script of that kind
 * touches is in one slot. Rate-limit buckets take none: each is one key, spread over the cluster by its own name.
 */
export function keyspace(redis: RedisConnection, kind: "sessions" | "registry" | "nonces" | "meta"): string {
  return redis.cluster ? `${redis.prefix}{${kind}}:` : redis.prefix;
}

/** The URL as logs may show it: never the password. */
export function redisWhere(url: string): string {
  if (isSentinelUrl(url)) return sentinelWhere(url);
  if (isClusterUrl(url)) return clusterWhere(url);
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname.length > 1 ? u.pathname : ""}`;
}

/** Checks a --store value that names Redis; throws ConfigError with one sentence. */
export function checkRedisUrl(url: string): void {
  if (isSentinelUrl(url)) {
    parseSentinelUrl(url);
    return;
  }
  if (isClusterUrl(url)) {
    parseClusterUrl(url);
    return;
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`${url.slice(0, 200)} is not a URL; use redis://[user:pass@]HOST:PORT[/DB]`);
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:")
    throw new ConfigError(
      `the store must be memory, a redis:// or rediss:// URL, redis+sentinel:// or redis+cluster://, not ${u.protocol}`,
    );
  if (!u.hostname) throw new ConfigError(`${redisWhere(url)} names no host; use redis://HOST:PORT`);
  if (u.pathname.length > 1 && !/^\/\d{1,2}$/.test(u.pathname))
    throw new ConfigError(`the Redis database in ${redisWhere(url)} must be a number (/0 to /15)`);
}

/**
 * Whether a failure is Redis refusing a command (a fault of ours: 500) rather than Redis being away (503). A
 * NOSCRIPT is a refusal too (Redis answered): script() loads the script then.
 */
const refused = (error: unknown) =>
  (error as { code?: string }).code === "ERR_REDIS_SERVER_ERROR" &&
  !/^(LOADING|BUSY|MASTERDOWN|READONLY)/.test((error as Error).message);

/** Opens the connections; commands fail fast (no offline queue) while Redis is away, and reconnect by themselves. */
export function redisConnection(options: RedisOptions, log: Logger): RedisConnection {
  checkRedisUrl(options.url);
  if (isSentinelUrl(options.url)) return sentinelConnection(options, log);
  if (isClusterUrl(options.url)) return clusterConnection(options, log);
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
  // The client's own close and connect events do not fire for a connection lost and made again, so the
  // commands' outcomes tell whether Redis is there.
  const health = reachability(where, log);
  const { wentAway, cameBack, unavailable } = health;
  client.onclose = wentAway;
  client.onconnect = cameBack;
  let connecting: Promise<void> | undefined = client.connect().catch(() => {});
  void connecting.then(() => (connecting = undefined));

  const pubsub = channelSubscriber({
    open: () =>
      new Redis(options.url, {
        lazyConnect: true,
        connectTimeout,
        maxRetriesPerRequest: null,
        retryStrategy: (times: number) => Math.min(50 * times, 1_000),
      }),
    event: "message",
    join: (subscriber, channel) => (subscriber as Redis).subscribe(channel),
    deadlineMs: commandTimeout,
  });

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

  return connectionOf({
    where,
    prefix: options.prefix ?? "pkipc:",
    cluster: false,
    command,
    pubsub,
    async ready(timeoutMs) {
      if (client.connected) return true;
      return Promise.race([
        (connecting ?? client.connect()).then(
          () => client.connected,
          () => false,
        ),
        Bun.sleep(timeoutMs).then(() => false),
      ]);
    },
    close() {
      clearInterval(sweep);
      client.close();
    },
    health,
  });
}
