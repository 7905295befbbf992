// A Redis connection to a Redis Cluster: commands go to the primary of their keys' hash slot, and follow a failover.
// Backed by ioredis' Cluster (Bun's RedisClient speaks no Cluster). Every kind of state keeps its keys under one hash
// tag (see keyspace in connection.ts), so each script touches one slot; long polls wake by sharded pub/sub.
import { Cluster, type ClusterOptions, type Redis } from "ioredis";
import type { Logger } from "../../../lib/log.ts";
import { clusterWhere, parseClusterUrl } from "./cluster-url.ts";
import type { RedisConnection, RedisOptions } from "./types.ts";
import { reachability, refusedReply } from "./reachability.ts";
import { scriptRunner } from "./scripts/index.ts";

/** The slots of the few keys WAIT and ROLE are sent beside (one per kind of state): bounded by this. */
const MAX_SLOTS_KNOWN = 64;

function clusterOptions(url: string, connectTimeout: number, commandTimeout: number): { seeds: Array<{ host: string; port: number }>; options: ClusterOptions } {
  const parsed = parseClusterUrl(url);
  return {
    seeds: parsed.seeds,
    options: {
      lazyConnect: true,
      scaleReads: "master",
      // Fail at once while a slot has no primary (503), rather than queue without a bound.
      enableOfflineQueue: false,
      // A slot's primary lost: its replica is promoted after the cluster's node timeout; the layout is asked for
      // again every second meanwhile, so the promoted one is found within a second of its promotion.
      slotsRefreshInterval: 1_000,
      slotsRefreshTimeout: connectTimeout,
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      retryDelayOnTryAgain: 100,
      maxRedirections: 8,
      clusterRetryStrategy: (times: number) => Math.min(100 * times, 1_000),
      redisOptions: {
        connectTimeout,
        commandTimeout,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        ...(parsed.username === undefined ? {} : { username: parsed.username }),
        ...(parsed.password === undefined ? {} : { password: parsed.password }),
        ...(parsed.tls ? { tls: {} } : {}),
      },
    },
  };
}

/** Opens the command and pub/sub connections to a Redis Cluster named by its seed nodes. */
export function clusterConnection(options: RedisOptions, log: Logger): RedisConnection {
  const where = clusterWhere(options.url);
  const commandTimeout = options.commandTimeoutMs ?? 2_000;
  const connectTimeout = options.connectTimeoutMs ?? 2_000;
  const { seeds, options: settings } = clusterOptions(options.url, connectTimeout, commandTimeout);
  const client = new Cluster(seeds, settings);
  const health = reachability(where, log, "is unreachable or failing over");
  const { wentAway, cameBack, unavailable } = health;
  // A node's own errors are not the store's: a lost replica changes nothing, a lost primary shows in the commands.
  client.on("error", wentAway);
  client.on("node error", () => {});
  client.on("ready", cameBack);
  // ioredis ends a cluster it could not reach at start for good: connect again, as the other modes do.
  client.on("end", () => {
    if (health.closing) return;
    const again = setTimeout(() => {
      if (!health.closing && client.status === "end") client.connect().catch(() => {});
    }, 200);
    again.unref?.();
  });
  const connecting = client.connect().then(
    () => true,
    () => false,
  );

  /** A command's outcome: an answer, a refusal (500), or Redis away (503); never later than the deadline. */
  async function settle(run: () => Promise<unknown>): Promise<unknown> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${commandTimeout} ms`)), commandTimeout);
    });
    try {
      const value = await Promise.race([run(), late]);
      cameBack();
      return value;
    } catch (error) {
      if (refusedReply(error)) throw error; // it answered
      wentAway(error);
      throw unavailable(error);
    } finally {
      clearTimeout(timer);
    }
  }

  const command = (name: string, args: Array<string | number>) => settle(() => client.call(name, ...args.map(String)));

  // WAIT and ROLE name no key: they go to the primary of the slot `key` is in, whose writes they are about.
  const slots = new Map<string, number>();
  async function primaryOf(key: string): Promise<Redis> {
    let slot = slots.get(key);
    if (slot === undefined) {
      slot = Number(await command("CLUSTER", ["KEYSLOT", key]));
      if (slots.size >= MAX_SLOTS_KNOWN) slots.clear();
      slots.set(key, slot);
    }
    const address = client.slots[slot]?.[0];
    const node = client.nodes("master").find((n) => `${n.options.host}:${n.options.port}` === address);
    if (!node) throw unavailable(new Error(`no primary holds slot ${slot} now`));
    return node;
  }

  let subscriber: Cluster | undefined;
  const channels = new Map<string, (message: string) => void>();

  return {
    where,
    prefix: options.prefix ?? "pkipc:",
    cluster: true,
    command,
    async commandAt(key, name, args) {
      const node = await primaryOf(key);
      return settle(() => node.call(name, ...args.map(String)));
    },
    script: (script) => scriptRunner(command, script),
    async subscribe(channel, onMessage) {
      if (!subscriber) {
        // Sharded pub/sub (Redis 7): a message goes to the subscribers of its slot's shard only, not to every node.
        // ioredis keeps one subscriber per primary and subscribes again after a failover; the store's re-check
        // covers a message lost meanwhile.
        subscriber = new Cluster(seeds, { ...settings, shardedSubscribers: true, enableOfflineQueue: true, redisOptions: { ...settings.redisOptions, commandTimeout: undefined, maxRetriesPerRequest: null } });
        subscriber.on("error", () => {}); // reported once by the command connection
        subscriber.on("smessage", (ch: string, message: string) => channels.get(ch)?.(message));
        subscriber.connect().catch(() => {});
      }
      channels.set(channel, onMessage);
      await Promise.race([subscriber.ssubscribe(channel).catch(() => {}), Bun.sleep(commandTimeout)]);
    },
    async ready(timeoutMs) {
      if (client.status === "ready") return true;
      return Promise.race([connecting.then(() => client.status === "ready"), Bun.sleep(timeoutMs).then(() => false)]);
    },
    async ping() {
      await command("PING", []);
    },
    async close() {
      health.close();
      subscriber?.disconnect();
      client.disconnect();
    },
  };
}
