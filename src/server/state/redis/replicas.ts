// Writes that were answered 2xx must survive the loss of the primary: wait until a replica holds them.
import { StoreUnavailableError } from "../../../lib/errors.ts";
import type { RedisConnection } from "./connection.ts";

/** How long a write waits for a replica's acknowledgement, in ms; below the command deadline (2 s). */
export const REPLICA_WAIT_MS = 1_000;

/**
 * Resolves once a replica acknowledged every write this connection sent so far to the primary that holds `key` (Redis'
 * WAIT; in a Cluster, the primary of its slot), or at once when
 * the primary has no replica (nothing to wait for: a lone Redis keeps what its append-only file keeps). Throws
 * StoreUnavailableError (503) when replicas exist and none acknowledged within `timeoutMs`: the write may then
 * be lost in a failover, so the caller must not be told it succeeded. WAIT holds this connection's later
 * commands meanwhile; replicas on a healthy network answer within a millisecond, and these writes are rare.
 */
export async function replicated(redis: RedisConnection, key: string, timeoutMs = REPLICA_WAIT_MS): Promise<void> {
  if ((await replicaCount(redis, key)) === 0) return;
  const acknowledged = Number(await redis.commandAt(key, "WAIT", [1, timeoutMs]));
  if (acknowledged < 1) {
    throw new StoreUnavailableError(
      `no replica of the shared store (${redis.where}) acknowledged the write within ${timeoutMs} ms; it may be lost in a failover, try again`,
    );
  }
}

/**
 * Replicas connected to the primary: ROLE answers ["master", offset, [[host, port, offset], ...]]. A managed Redis
 * may refuse ROLE; INFO replication's connected_slaves tells then, and a Redis refusing both is taken to have none
 * (its operator answers for its durability, as for a Redis that refuses CONFIG GET).
 */
async function replicaCount(redis: RedisConnection, key: string): Promise<number> {
  try {
    const role = (await redis.commandAt(key, "ROLE", [])) as unknown[];
    return Array.isArray(role) && Array.isArray(role[2]) ? role[2].length : 0;
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw error;
  }
  try {
    const info = String(await redis.commandAt(key, "INFO", ["replication"]));
    return Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0);
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw error;
    return 0;
  }
}
