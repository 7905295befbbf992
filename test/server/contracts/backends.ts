// The backends each shared-state contract suite runs on: memory (in each suite), and every Redis mode: one node on a
// redis-server of the test's own, through Sentinel and as a Cluster (ioredis, where one node uses Bun's client) on
// deployments of its own.
import { silentLogger } from "../../../src/lib/log.ts";
import { type RedisConnection, redisConnection } from "../../../src/server/state/redis/connection.ts";
import { onCleanup } from "../../helpers.ts";
import { testRedis } from "../../redis.ts";
import { testCluster } from "../../redis-cluster.ts";
import { testSentinels } from "../../redis-sentinel.ts";

/** A connection to `url`, ready, closed after the test. */
async function connect(url: string): Promise<RedisConnection> {
  const connection = redisConnection({ url }, silentLogger);
  onCleanup(() => connection.close());
  if (!(await connection.ready(5_000))) throw new Error(`no connection to ${connection.where}`);
  return connection;
}

/** A Redis connection to a fresh redis-server, closed after the test. */
export async function testConnection(): Promise<RedisConnection> {
  return connect((await testRedis()).url);
}

/** A connection through three sentinels to a fresh primary with one replica (so writes wait for it), closed after the test. */
export async function testSentinelConnection(): Promise<RedisConnection & { url: string }> {
  const deployment = await testSentinels();
  return Object.assign(await connect(deployment.url), { url: deployment.url });
}

/** A Redis mode: `open` starts a fresh deployment and gives two connections to it, as two instances hold. */
export interface RedisBackend {
  name: string;
  open(): Promise<[RedisConnection, RedisConnection]>;
}

/** Every Redis mode a contract suite runs on, beside memory. */
export const redisBackends: readonly RedisBackend[] = [
  {
    name: "redis",
    async open() {
      const { url } = await testRedis();
      return [await connect(url), await connect(url)];
    },
  },
  {
    name: "redis through sentinel",
    async open() {
      const { url } = await testSentinels();
      return [await connect(url), await connect(url)];
    },
  },
  {
    name: "redis cluster",
    async open() {
      const { url } = await testCluster();
      return [await connect(url), await connect(url)];
    },
  },
];
