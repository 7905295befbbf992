// The implementations each shared-state contract suite runs against: memory, and Redis on a redis-server of the test's own.
import { silentLogger } from "../../../src/lib/log.ts";
import { type RedisConnection, redisConnection } from "../../../src/server/redis/connection.ts";
import { onCleanup } from "../../helpers.ts";
import { testRedis } from "../../redis.ts";

/** A Redis connection to a fresh redis-server, closed after the test. */
export async function testConnection(): Promise<RedisConnection> {
  const redis = await testRedis();
  const connection = redisConnection({ url: redis.url }, silentLogger);
  onCleanup(() => connection.close());
  if (!(await connection.ready(5_000))) throw new Error(`no connection to ${redis.url}`);
  return connection;
}
