// A real redis-server for one test: a free port, a temp folder, no persistence; stopped by PID after the test.
import { spawnSync } from "bun";
import Redis from "ioredis";
import { findFreePort } from "../src/lib/ports.ts";
import { onCleanup, tempFolder, watchLines } from "./helpers.ts";

const INSTALL_HINT = "redis-server is not installed: apt-get install redis-server (the Redis tests start their own)";

export interface TestRedis {
  url: string;
  port: number;
  pid(): number;
  /** Runs one command through a connection of the test's own (not a server's). */
  command(...args: string[]): Promise<unknown>;
  /** Stops it (SIGKILL: data in memory is lost, as with a crash without persistence). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty (or with what restart() saved). */
  start(): Promise<void>;
  /** A graceful restart as an operator makes one: SHUTDOWN SAVE, then start again, loading what was saved. */
  restart(): Promise<void>;
}

function redisServerPath(): string {
  const found = spawnSync(["sh", "-c", "command -v redis-server"]).stdout.toString().trim();
  if (!found) throw new Error(INSTALL_HINT);
  return found;
}

/** Starts redis-server on 127.0.0.1 and a free port; it is killed after the test, failed or not. */
export async function testRedis(): Promise<TestRedis> {
  const path = redisServerPath();
  const port = findFreePort();
  const dir = tempFolder();
  let child: ReturnType<typeof Bun.spawn> | undefined;
  const start = async () => {
    const proc = Bun.spawn(
      [path, "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", "--protected-mode", "yes", "--loglevel", "notice"],
      { stdout: "pipe", stderr: "pipe", stdin: "ignore" },
    );
    child = proc;
    const lines = watchLines(proc.stdout as ReadableStream<Uint8Array>);
    await lines.waitFor(/Ready to accept connections/, 10_000);
  };
  const stop = async () => {
    if (child && child.exitCode === null) {
      child.kill("SIGKILL");
      await child.exited;
    }
  };
  await start();
  onCleanup(stop);
  const url = `redis://127.0.0.1:${port}`;
  return {
    url,
    port,
    pid: () => child!.pid,
    async command(...args) {
      return rawCommand(port, args);
    },
    stop,
    start,
    async restart() {
      // The connection closes without an answer: the command's own error is expected.
      await rawCommand(port, ["SHUTDOWN", "SAVE"]).catch(() => {});
      const exited = await Promise.race([child!.exited.then(() => true), Bun.sleep(10_000).then(() => false)]);
      if (!exited) throw new Error(`redis-server (pid ${child!.pid}) did not shut down`);
      await start();
    },
  };
}

/** One command over a connection of the test's own (not a server's); the reply as Redis gives it. */
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
