// The backends each shared-state contract suite runs on: memory (in each suite), and every Redis mode: one node on a
// redis-server of the test's own, through Sentinel and as a Cluster (ioredis, where one node uses Bun's client) on
// deployments of its own.
import { silentLogger } from "../../../src/lib/log.ts";
import { type RedisConnection, redisConnection } from "../../../src/server/state/redis/connection.ts";
import type { SessionRecord } from "../../../src/server/state/types.ts";
import { onCleanup } from "../../helpers.ts";
import { testRedis } from "../../redis.ts";
import { testCluster } from "../../redis-cluster.ts";
import { testSentinels } from "../../redis-sentinel.ts";

/** A connection to `url` (keys under `prefix`), ready, closed after the test. */
async function connect(url: string, prefix?: string): Promise<RedisConnection> {
  const connection = redisConnection({ url, ...(prefix === undefined ? {} : { prefix }) }, silentLogger);
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

// A Sentinel deployment (five processes) and a Cluster (six) take seconds to start: the tests of one file share one
// of each, every test under a key prefix of its own, so it starts afresh. Each file stops them in its afterAll.
const shared = new Map<string, Promise<{ url: string; stop(): Promise<void> }>>();
let tests = 0;

/** Two connections to the deployment of `kind` this file shares, under a prefix no other test used. */
async function sharedPair(
  kind: string,
  start: () => Promise<{ url: string; stop(): Promise<void> }>,
): Promise<[RedisConnection, RedisConnection]> {
  let deployment = shared.get(kind);
  if (!deployment) {
    deployment = start();
    shared.set(kind, deployment);
    deployment.catch(() => shared.delete(kind)); // a start that failed stopped itself; the next test tries again
  }
  const { url } = await deployment;
  const prefix = `pkipc-t${++tests}:`;
  return [await connect(url, prefix), await connect(url, prefix)];
}

/** Stops the deployments this file's tests shared, by PID: every contract file calls it in afterAll. */
export async function stopSharedDeployments(): Promise<void> {
  const all = [...shared.values()];
  shared.clear();
  await Promise.all(
    all.map((d) =>
      d.then(
        (x) => x.stop(),
        () => {},
      ),
    ),
  );
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
    open: () => sharedPair("sentinel", () => testSentinels(true)),
  },
  {
    name: "redis cluster",
    open: () => sharedPair("cluster", () => testCluster(true)),
  },
];

/** Session records for the store suites: ids unique within a run, expiring in 30 s unless told otherwise. */
let next = 0;
export function sessionRecord(tuples: number[][], overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return {
    id: `session${String(next++).padStart(6, "0")}${Math.random().toString(36).slice(2, 8)}`,
    tuples,
    createdAt: now,
    expiresAt: now + 30_000,
    state: "pending",
    version: 0,
    address: "127.0.0.1",
    instructions: [],
    ...overrides,
  };
}

/** The record linked, as the server replaces it. */
export const linkedRecord = (r: SessionRecord, linkId: string): SessionRecord => ({
  ...r,
  state: "linked",
  linkId,
  linkedAt: Date.now(),
  version: r.version + 1,
});
