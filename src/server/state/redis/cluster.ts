// A Redis connection to a Redis Cluster: commands go to the primary of their keys' hash slot, and follow a failover.
// Backed by ioredis' Cluster (Bun's RedisClient speaks no Cluster). Every kind of state keeps its keys under one hash
// tag (see keyspace in connection.ts), so each script touches one slot; long polls wake by sharded pub/sub.
import { Cluster, type ClusterOptions, type Redis } from "ioredis";
import type { Logger } from "../../../lib/log.ts";
import { clusterWhere, parseClusterUrl } from "./cluster-url.ts";
import type { RedisConnection, RedisOptions } from "./types.ts";
import { channelSubscriber, connectionOf, ioredisCommands } from "./shared.ts";
import { reachability } from "./reachability.ts";

/** The slots of the few keys WAIT and ROLE are sent beside (one per kind of state): bounded by this. */
const MAX_SLOTS_KNOWN = 64;

function clusterOptions(
  url: string,
  connectTimeout: number,
  commandTimeout: number,
): { seeds: Array<{ host: string; port: number }>; options: ClusterOptions } {
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
  // A node's own errors are not the store's: a lost replica changes nothing, a lost primary shows in the commands.
  client.on("node error", () => {});
  const { settle, command, ready } = ioredisCommands(client, health, commandTimeout);

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
    if (!node) throw health.unavailable(new Error(`no primary holds slot ${slot} now`));
    return node;
  }

  // Sharded pub/sub (Redis 7): a message goes to the subscribers of its slot's shard only, not to every node. ioredis
  // keeps one subscriber per primary and subscribes again after a failover.
  const pubsub = channelSubscriber({
    open: () =>
      new Cluster(seeds, {
        ...settings,
        shardedSubscribers: true,
        enableOfflineQueue: true,
        redisOptions: { ...settings.redisOptions, commandTimeout: undefined, maxRetriesPerRequest: null },
      }),
    event: "smessage",
    join: (subscriber, channel) => (subscriber as Cluster).ssubscribe(channel),
    deadlineMs: commandTimeout,
  });

  return connectionOf({
    where,
    prefix: options.prefix ?? "pkipc:",
    cluster: true,
    command,
    async commandAt(key, name, args) {
      const node = await primaryOf(key);
      return settle(() => node.call(name, ...args.map(String)));
    },
    pubsub,
    ready,
    close: () => client.disconnect(),
    health,
  });
}
