// A real Sentinel deployment for one test: a primary, a replica and three sentinels on free loopback ports in a temp folder.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
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
  /** Kills every process and removes the folder (done after the test by itself unless it is `shared`). */
  stop(): Promise<void>;
}

/**
 * Starts the deployment (a failover takes about 2 s: down after 1 s, failover timeout 3 s); every process is
 * killed after the test, failed or not, unless it is `shared` (then its owner stops it: the contract suites share
 * one per file, each test under a prefix of its own). The data nodes keep no files: the replica holds what the
 * primary had.
 */
export async function testSentinels(shared = false): Promise<TestSentinels> {
  const sentinelBin = redisBinary("redis-sentinel");
  // A sentinel rewrites its file as it learns: the folder lives as long as it.
  const dir = shared ? mkdtempSync(join(tmpdir(), "pkipc-sentinel-")) : tempFolder();
  const node = (port: number, replicaOf?: number) =>
    redisServer(
      port,
      dir,
      ["--repl-diskless-sync-delay", "0", ...(replicaOf ? ["--replicaof", "127.0.0.1", String(replicaOf)] : [])],
      !shared,
    );
  const primary = node(findFreePort());
  const replica = node(findFreePort(), primary.port);
  const sentinels = Array.from({ length: 3 }, () => {
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
    return redisProcess(() => [sentinelBin, conf], port, /\+monitor master/, !shared);
  });
  const stop = async () => {
    await Promise.all([primary, replica, ...sentinels].map((p) => p.kill()));
    if (shared) rmSync(dir, { recursive: true, force: true });
  };
  const command = (port: number, ...args: string[]) => redisCommand(port, args);
  try {
    await primary.start();
    await replica.start();
    for (const s of sentinels) await s.start();
    // The replica must be in sync before the test relies on it.
    const end = Date.now() + 15_000;
    while (!/master_link_status:up/.test(String(await command(replica.port, "INFO", "replication")))) {
      if (Date.now() > end) throw new Error("the replica did not sync with the primary within 15 s");
      await Bun.sleep(100);
    }
  } catch (error) {
    await stop(); // a shared one is not stopped after the test: a start that failed stops it here
    throw error;
  }
  return {
    url: `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(",")}/${MASTER}`,
    primary,
    replica,
    sentinels,
    command,
    stop,
    async masterPort() {
      for (const s of sentinels) {
        const answer = await redisCommand(s.port, ["SENTINEL", "get-master-addr-by-name", MASTER]).catch(
          () => undefined,
        );
        if (Array.isArray(answer)) return Number(answer[1]);
      }
      throw new Error("no sentinel answered");
    },
  };
}
