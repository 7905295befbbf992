// What the three kinds of connection (one node, Sentinel, Cluster) share: the connection object built from its
// parts, the pub/sub connection each opens, and, for the two backed by ioredis alone (Sentinel, Cluster), keeping a
// connection that ioredis gave up on and settling a command.
import type { EventEmitter } from "node:events";
import type { Reachability } from "./reachability.ts";
import { refusedReply } from "./reachability.ts";
import { scriptRunner } from "./scripts/index.ts";
import type { RedisConnection } from "./types.ts";

/** What keepConnected and the subscriber need of an ioredis Redis or Cluster (both are event emitters). */
type IoredisLike = EventEmitter & {
  status: string;
  connect(): Promise<unknown>;
  disconnect(): void;
};

/**
 * Connects again whenever ioredis gives up on its own. Its Sentinel failover detector drops the connection when a
 * sentinel announces +switch-master; if that lands while a connection is being made, ioredis ends for good
 * ("Connection is closed.", status end, no retry): seen here in one failover out of five, the instance answering
 * 503 until restarted. A Cluster it could not reach at start ends the same way.
 */
export function keepConnected(client: IoredisLike, closing: () => boolean): void {
  client.on("end", () => {
    if (closing()) return;
    const again = setTimeout(() => {
      if (!closing() && client.status === "end") client.connect().catch(() => {});
    }, 200);
    again.unref?.();
  });
}

/**
 * A command's outcome through ioredis: an answer, a refusal (thrown as it is: a 500), or Redis away or between
 * primaries (503, logged once); never later than `deadlineMs`.
 */
export function settler(health: Reachability, deadlineMs: number) {
  return async function settle(run: () => Promise<unknown>): Promise<unknown> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${deadlineMs} ms`)), deadlineMs);
    });
    try {
      const value = await Promise.race([run(), late]);
      health.cameBack();
      return value;
    } catch (error) {
      if (refusedReply(error)) throw error; // it answered
      health.wentAway(error);
      throw health.unavailable(error);
    } finally {
      clearTimeout(timer);
    }
  };
}

/**
 * The pub/sub side of a connection: its own ioredis connection (a subscribed connection can run nothing else), opened
 * at the first subscribe. ioredis subscribes again after every reconnect; a wake-up lost meanwhile is caught by the
 * store's re-check timer, so a subscribe is not awaited past the deadline.
 */
export function channelSubscriber(options: {
  /** Makes the connection (lazily connecting); its errors are reported by the command connection, not here. */
  open(): IoredisLike;
  /** "message" for SUBSCRIBE, "smessage" for a Cluster's sharded SSUBSCRIBE. */
  event: "message" | "smessage";
  join(connection: IoredisLike, channel: string): Promise<unknown>;
  deadlineMs: number;
}) {
  let connection: IoredisLike | undefined;
  const channels = new Map<string, (message: string) => void>();
  return {
    async subscribe(channel: string, onMessage: (message: string) => void): Promise<void> {
      if (!connection) {
        connection = options.open();
        connection.on("error", () => {});
        connection.on(options.event, (ch: string, message: string) => channels.get(ch)?.(message));
        connection.connect().catch(() => {});
      }
      channels.set(channel, onMessage);
      await Promise.race([options.join(connection, channel).catch(() => {}), Bun.sleep(options.deadlineMs)]);
    },
    close(): void {
      connection?.disconnect();
    },
  };
}

/** A connection from what differs between the kinds: how a command is sent, where WAIT goes, readiness, closing. */
export function connectionOf(parts: {
  where: string;
  prefix: string;
  cluster: boolean;
  command: RedisConnection["command"];
  /** Where a command that names no key goes; by default where every command goes. */
  commandAt?: RedisConnection["commandAt"];
  pubsub: ReturnType<typeof channelSubscriber>;
  ready: RedisConnection["ready"];
  /** Closes the command connection (the pub/sub one is closed here). */
  close(): void;
  health: Reachability;
}): RedisConnection {
  const { command } = parts;
  return {
    where: parts.where,
    prefix: parts.prefix,
    cluster: parts.cluster,
    command,
    commandAt: parts.commandAt ?? ((_key, name, args) => command(name, args)),
    script: (script) => scriptRunner(command, script),
    subscribe: parts.pubsub.subscribe,
    ready: parts.ready,
    async ping() {
      await command("PING", []);
    },
    async close() {
      parts.health.close();
      parts.pubsub.close();
      parts.close();
    },
  };
}

/** Readiness of an ioredis Redis or Cluster: ready now, or once `connecting` settles, or false after the wait. */
export function ioredisReady(client: IoredisLike, connecting: Promise<unknown>): RedisConnection["ready"] {
  return async (timeoutMs) => {
    if (client.status === "ready") return true;
    return Promise.race([connecting.then(() => client.status === "ready"), Bun.sleep(timeoutMs).then(() => false)]);
  };
}

/**
 * The command side of an ioredis Redis or Cluster: Redis away and back told to the log once, a connection ioredis
 * gave up on made again, every command settled within `deadlineMs` (503 when Redis is away or between primaries).
 */
export function ioredisCommands(
  client: IoredisLike & { call(name: string, ...args: string[]): Promise<unknown> },
  health: Reachability,
  deadlineMs: number,
) {
  client.on("error", health.wentAway);
  client.on("ready", health.cameBack);
  keepConnected(client, () => health.closing);
  const connecting = client.connect().then(
    () => true,
    () => false,
  );
  const settle = settler(health, deadlineMs);
  const command = (name: string, args: Array<string | number>) => settle(() => client.call(name, ...args.map(String)));
  return { settle, command, ready: ioredisReady(client, connecting) };
}
