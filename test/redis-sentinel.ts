// A real Sentinel deployment for one test: a primary, a replica and three sentinels on free loopback ports in a temp folder.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { findFreePort } from "../src/lib/ports.ts";
import { tempFolder } from "./helpers.ts";
import { type RedisProcess, redisBinary, redisCommand, redisProcess, redisServer } from "./redis.ts";

export const MASTER = "pkipc-test";

export interface TestSentinels {
  /** The --store URL: redis+sentinel://127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3/MASTER */
  url: string;
  primary: RedisProcess;
  replica: RedisProcess;
  sentinels: RedisProcess[];
  /** The port of the primary the sentinels name now. */
  masterPort(): Promise<number>;
  /** Runs one command on the Redis at `port` through a connection of the test's own. */
  command(port: number, ...args: string[]): Promise<unknown>;
}

/**
 * Starts the deployment (a failover takes about 2 s: down after 1 s, failover timeout 3 s); every process is
 * killed after the test, failed or not. The data nodes keep no files: the replica holds what the primary had.
 */
export async function testSentinels(): Promise<TestSentinels> {
  const sentinelBin = redisBinary("redis-sentinel");
  const dir = tempFolder();
  const node = (port: number, replicaOf?: number) =>
    redisServer(port, dir, ["--repl-diskless-sync-delay", "0", ...(replicaOf ? ["--replicaof", "127.0.0.1", String(replicaOf)] : [])]);
  const primary = node(findFreePort());
  const replica = node(findFreePort(), primary.port);
  await primary.start();
  await replica.start();
  const sentinels: RedisProcess[] = [];
  for (let i = 0; i < 3; i++) {
    const port = findFreePort();
    const conf = join(dir, `sentinel-${port}.conf`);
    // Written once: a sentinel rewrites its file with what it learnt, which a restart then reads.
    writeFileSync(
      conf,
      [
        `port ${port}`,
        "bind 127.0.0.1",
        `dir ${dir}`,
        `sentinel monitor ${MASTER} 127.0.0.1 ${primary.port} 2`,
        `sentinel down-after-milliseconds ${MASTER} 1000`,
        `sentinel failover-timeout ${MASTER} 3000`,
        `sentinel parallel-syncs ${MASTER} 1`,
        "",
      ].join("\n"),
    );
    const s = redisProcess(() => [sentinelBin, conf], port, /\+monitor master/);
    await s.start();
    sentinels.push(s);
  }
  const url = `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(",")}/${MASTER}`;
  const command = (port: number, ...args: string[]) => redisCommand(port, args);
  // The replica must be in sync before the test relies on it.
  const end = Date.now() + 15_000;
  while (!/master_link_status:up/.test(String(await command(replica.port, "INFO", "replication")))) {
    if (Date.now() > end) throw new Error("the replica did not sync with the primary within 15 s");
    await Bun.sleep(100);
  }
  return {
    url,
    primary,
    replica,
    sentinels,
    command,
    async masterPort() {
      for (const s of sentinels) {
        const answer = await redisCommand(s.port, ["SENTINEL", "get-master-addr-by-name", MASTER]).catch(() => undefined);
        if (Array.isArray(answer)) return Number(answer[1]);
      }
      throw new Error("no sentinel answered");
    },
  };
}
