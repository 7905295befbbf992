// The implementations each shared-state contract suite runs against: memory, Redis on a redis-server of the test's own,
// and Redis through Sentinel (ioredis, where the single node uses Bun's client) on a deployment of the test's own.
import { silentLogger } from "../../../src/lib/log.ts";
import { type RedisConnection, redisConnection } from "../../../src/server/state/redis/connection.ts";
import { onCleanup } from "../../helpers.ts";
import { testRedis } from "../../redis.ts";
import { testSentinels } from "../../redis-sentinel.ts";

/** A Redis connection to a fresh redis-server, closed after the test. */
export async function testConnection(): Promise<RedisConnection> {
  const redis = await testRedis();
  const connection = redisConnection({ url: redis.url }, silentLogger);
  onCleanup(() => connection.close());
  if (!(await connection.ready(5_000))) throw new Error(`no connection to ${redis.url}`);
  return connection;
}

/** A connection through three sentinels to a fresh primary with one replica (so writes wait for it), closed after the test. */
export async function testSentinelConnection(): Promise<RedisConnection & { url: string }> {
  const deployment = await testSentinels();
  const connection = redisConnection({ url: deployment.url }, silentLogger);
  onCleanup(() => connection.close());
  if (!(await connection.ready(5_000))) throw new Error(`no connection to ${deployment.url}`);
  return Object.assign(connection, { url: deployment.url });
}
