// A Redis connection through Sentinel: asks the sentinels where the primary is, and again after every failover.
// Backed by ioredis, which speaks Sentinel (Bun's RedisClient does not); the single-node path keeps Bun's client,
// measured faster (see connection.ts and bench/redis.ts).
import Redis, { type RedisOptions as IoRedisOptions } from "ioredis";
import type { Logger } from "../../../lib/log.ts";
import type { RedisConnection, RedisOptions } from "./types.ts";
import { channelSubscriber, connectionOf, ioredisCommands, keepConnected } from "./shared.ts";
import { reachability } from "./reachability.ts";
import { parseSentinelUrl, sentinelWhere } from "./sentinel-url.ts";

/** ioredis options for the primary named by a redis+sentinel:// URL. */
function ioredisOptions(url: string, connectTimeout: number, commandTimeout: number): IoRedisOptions {
  const parsed = parseSentinelUrl(url);
  return {
    sentinels: parsed.sentinels,
    name: parsed.name,
    db: parsed.db,
    ...(parsed.username === undefined ? {} : { username: parsed.username }),
    ...(parsed.password === undefined ? {} : { password: parsed.password }),
    ...(parsed.sentinelUsername === undefined ? {} : { sentinelUsername: parsed.sentinelUsername }),
    ...(parsed.sentinelPassword === undefined ? {} : { sentinelPassword: parsed.sentinelPassword }),
    ...(parsed.tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
    role: "master",
    lazyConnect: true,
    connectTimeout,
    commandTimeout,
    // Fail at once while there is no primary (503), rather than queue without a bound; a command cut off by a
    // failover is not sent again to the new primary after its caller was answered 503.
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    // Each reconnect asks the sentinels again, so a pause this short finds the promoted replica within a second.
    retryStrategy: (times: number) => Math.min(100 * times, 1_000),
    sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1_000),
    // Listens to the sentinels' +switch-master, so a promotion is followed at once, not at the next error.
    failoverDetector: true,
    // A primary demoted to a replica answers writes with READONLY: connect again, to the new primary.
    reconnectOnError: (error: Error) => (/^READONLY/.test(error.message) ? 2 : false),
  };
}

/** Opens the command and pub/sub connections to the primary of a Sentinel deployment; both follow a failover. */
export function sentinelConnection(options: RedisOptions, log: Logger): RedisConnection {
  const where = sentinelWhere(options.url);
  const commandTimeout = options.commandTimeoutMs ?? 2_000;
  const connectTimeout = options.connectTimeoutMs ?? 2_000;
  const settings = ioredisOptions(options.url, connectTimeout, commandTimeout);
  const client = new Redis(settings);
  const health = reachability(where, log, "is unreachable or failing over");
  client.on("close", () => health.wentAway(new Error("connection closed")));
  const { command, ready } = ioredisCommands(client, health, commandTimeout);
  // Its own connection, to the primary as well (a replica relays PUBLISH, but the primary is where they are made).
  const pubsub = channelSubscriber({
    open() {
      const subscriber = new Redis({
        ...settings,
        enableOfflineQueue: true,
        commandTimeout: undefined,
        maxRetriesPerRequest: null,
      });
      keepConnected(subscriber, () => health.closing);
      return subscriber;
    },
    event: "message",
    join: (subscriber, channel) => (subscriber as Redis).subscribe(channel),
    deadlineMs: commandTimeout,
  });

  return connectionOf({
    where,
    prefix: options.prefix ?? "pkipc:",
    cluster: false,
    command,
    pubsub,
    ready,
    close: () => client.disconnect(),
    health,
  });
}
