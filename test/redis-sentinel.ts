// A real Sentinel deployment for one test: a primary, a replica and three sentinels on free loopback ports in a temp folder.
import { spawnSync } from "bun";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Redis from "ioredis";
import { findFreePort } from "../src/lib/ports.ts";
import { onCleanup, tempFolder, watchLines } from "./helpers.ts";

const INSTALL_HINT = "redis-server and redis-sentinel are not installed: apt-get install redis-server redis-sentinel (the Sentinel tests start their own)";
export const MASTER = "pkipc-test";

function binary(name: string): string {
  const found = spawnSync(["sh", "-c", `command -v ${name}`]).stdout.toString().trim();
  if (!found) throw new Error(INSTALL_HINT);
  return found;
}

interface Proc {
  port: number;
  pid(): number;
  start(): Promise<void>;
  /** SIGKILL, as a crash. */
  kill(): Promise<void>;
}

function daemon(argv: () => string[], port: number, ready: RegExp): Proc {
  let child: ReturnType<typeof Bun.spawn> | undefined;
  const kill = async () => {
    if (child && child.exitCode === null) {
      child.kill("SIGKILL");
      await child.exited;
    }
  };
  onCleanup(kill);
  return {
    port,
    pid: () => child!.pid,
    async start() {
      const proc = Bun.spawn(argv(), { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
      child = proc;
      await watchLines(proc.stdout as ReadableStream<Uint8Array>).waitFor(ready, 15_000);
    },
    kill,
  };
}

export interface TestSentinels {
  /** The --store URL: redis+sentinel://127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3/MASTER */
  url: string;
  primary: Proc;
  replica: Proc;
  sentinels: Proc[];
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
  const server = binary("redis-server");
  const sentinelBin = binary("redis-sentinel");
  const dir = tempFolder();
  const node = (port: number, replicaOf?: number) =>
    daemon(
      () => [server, "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--dbfilename", `dump-${port}.rdb`, "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0", ...(replicaOf ? ["--replicaof", "127.0.0.1", String(replicaOf)] : [])],
      port,
      /Ready to accept connections/,
    );
  const primary = node(findFreePort());
  const replica = node(findFreePort(), primary.port);
  await primary.start();
  await replica.start();
  const sentinels: Proc[] = [];
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
    const s = daemon(() => [sentinelBin, conf], port, /\+monitor master/);
    await s.start();
    sentinels.push(s);
  }
  const url = `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(",")}/${MASTER}`;
  const command = (port: number, ...args: string[]) => rawCommand(port, args);
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
        const answer = await rawCommand(s.port, ["SENTINEL", "get-master-addr-by-name", MASTER]).catch(() => undefined);
        if (Array.isArray(answer)) return Number(answer[1]);
      }
      throw new Error("no sentinel answered");
    },
  };
}

async function rawCommand(port: number, args: string[]): Promise<unknown> {
  const client = new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, commandTimeout: 5_000 });
  client.on("error", () => {});
  try {
    await client.connect();
    return await client.call(args[0]!, ...args.slice(1));
  } finally {
    client.disconnect();
  }
}
