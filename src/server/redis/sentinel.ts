// A Redis connection through Sentinel: asks the sentinels where the primary is, and again after every failover.
// Backed by ioredis, which speaks Sentinel (Bun's RedisClient does not); the single-node path keeps Bun's client,
// measured faster (see connection.ts and bench/redis.ts).
import Redis, { ReplyError, type RedisOptions as IoRedisOptions } from "ioredis";
import { StoreUnavailableError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/log.ts";
import type { RedisConnection, RedisOptions } from "./types.ts";
import { parseSentinelUrl, sentinelWhere } from "./sentinel-url.ts";

/**
 * Whether a failure is Redis refusing a command (a fault of ours: 500) rather than Redis being away or between
 * primaries (503). READONLY is a primary demoted under us: the connection is made again to the new one; UNBLOCKED
 * is a WAIT cut short by that demotion.
 */
const refused = (error: unknown) => error instanceof ReplyError && !/^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|UNBLOCKED)/.test((error as Error).message);

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

/**
 * Connects again whenever ioredis gives up on its own. Its failover detector drops the connection when a sentinel
 * announces +switch-master; if that lands while a connection is being made, ioredis ends for good ("Connection is
 * closed.", status end, no retry): seen here in one failover out of five, the instance answering 503 until restarted.
 */
function keepConnected(client: Redis, closing: () => boolean): void {
  client.on("end", () => {
    if (closing()) return;
    const again = setTimeout(() => {
      if (!closing() && client.status === "end") client.connect().catch(() => {});
    }, 200);
    again.unref?.();
  });
}

/** Opens the command and pub/sub connections to the primary of a Sentinel deployment; both follow a failover. */
export function sentinelConnection(options: RedisOptions, log: Logger): RedisConnection {
  const where = sentinelWhere(options.url);
  const commandTimeout = options.commandTimeoutMs ?? 2_000;
  const connectTimeout = options.connectTimeoutMs ?? 2_000;
  const settings = ioredisOptions(options.url, connectTimeout, commandTimeout);
  const client = new Redis(settings);
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
  client.on("error", wentAway);
  client.on("close", () => wentAway(new Error("connection closed")));
  client.on("ready", cameBack);
  keepConnected(client, () => closing);
  const connecting = client.connect().then(
    () => true,
    () => false,
  );

  const unavailable = (error: unknown) =>
    new StoreUnavailableError(`the shared store (${where}) is unreachable or failing over; try again shortly`, { cause: error });

  async function command(name: string, args: Array<string | number>): Promise<unknown> {
    try {
      const value = await client.call(name, ...args.map(String));
      cameBack();
      return value;
    } catch (error) {
      if (refused(error)) throw error; // it answered
      wentAway(error);
      throw unavailable(error);
    }
  }

  let subscriber: Redis | undefined;
  const channels = new Map<string, (message: string) => void>();

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
          // Not loaded yet, or a promoted replica that never ran it: EVAL loads it for the next time.
          if (!/^NOSCRIPT/.test((error as Error).message)) throw error;
          return command("EVAL", [lua, keys.length, ...keys, ...args]);
        }
      };
    },
    async subscribe(channel, onMessage) {
      if (!subscriber) {
        // Its own connection, to the primary as well (a replica relays PUBLISH, but the primary is where they are
        // made); ioredis subscribes again after every reconnect, and the store's re-check covers the gap.
        subscriber = new Redis({ ...settings, enableOfflineQueue: true, commandTimeout: undefined, maxRetriesPerRequest: null });
        subscriber.on("error", () => {}); // reported once by the command connection
        subscriber.on("message", (ch: string, message: string) => channels.get(ch)?.(message));
        keepConnected(subscriber, () => closing);
        subscriber.connect().catch(() => {});
      }
      channels.set(channel, onMessage);
      await Promise.race([subscriber.subscribe(channel).catch(() => {}), Bun.sleep(commandTimeout)]);
    },
    async ready(timeoutMs) {
      if (client.status === "ready") return true;
      return Promise.race([connecting.then(() => client.status === "ready"), Bun.sleep(timeoutMs).then(() => false)]);
    },
    async ping() {
      await command("PING", []);
    },
    async close() {
      closing = true;
      subscriber?.disconnect();
      client.disconnect();
    },
  };
}
