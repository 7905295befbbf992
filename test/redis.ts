// Real redis-server processes for tests (one node here; Sentinel and Cluster deployments in redis-sentinel.ts and
// redis-cluster.ts): free loopback ports, a temp folder, no persistence; every process stopped by PID after the test.
import { spawnSync } from "bun";
import Redis from "ioredis";
import { findFreePort } from "../src/lib/ports.ts";
import { onCleanup, tempFolder, watchLines } from "./helpers.ts";

/** The path of `name` (redis-server, redis-sentinel, redis-cli), or an error naming the package to install. */
export function redisBinary(name: string): string {
  const found = spawnSync(["sh", "-c", `command -v ${name}`])
    .stdout.toString()
    .trim();
  if (!found)
    throw new Error(
      `${name} is not installed: apt-get install redis-server redis-sentinel redis-tools (the Redis tests start their own)`,
    );
  return found;
}

/** One process of a deployment, on its own port; killed after the test, failed or not. */
export interface RedisProcess {
  port: number;
  pid(): number;
  /** Starts it (again), resolving once its log says `ready`. */
  start(): Promise<void>;
  /** SIGKILL, as a crash. */
  kill(): Promise<void>;
  /** Whether it was started and has not exited. */
  running(): boolean;
  /** Resolves once it exited (true), or false after `timeoutMs`. */
  exited(timeoutMs: number): Promise<boolean>;
}

/**
 * A process started by `argv` (read at each start), ready when its output matches `ready`; killed after the test,
 * unless `afterTest` is false (then its owner kills it, e.g. a deployment a file's tests share).
 */
export function redisProcess(argv: () => string[], port: number, ready: RegExp, afterTest = true): RedisProcess {
  let child: ReturnType<typeof Bun.spawn> | undefined;
  const kill = async () => {
    if (child && child.exitCode === null) {
      child.kill("SIGKILL");
      await child.exited;
    }
  };
  if (afterTest) onCleanup(kill);
  return {
    port,
    pid: () => child!.pid,
    async start() {
      const proc = Bun.spawn(argv(), { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
      child = proc;
      await watchLines(proc.stdout as ReadableStream<Uint8Array>).waitFor(ready, 15_000);
    },
    kill,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    exited: (timeoutMs) => Promise.race([child!.exited.then(() => true), Bun.sleep(timeoutMs).then(() => false)]),
  };
}

/** A redis-server on 127.0.0.1:`port` keeping its files in `dir` (no snapshots, no append-only file), with `extra` arguments. */
export function redisServer(port: number, dir: string, extra: string[] = [], afterTest = true): RedisProcess {
  const path = redisBinary("redis-server");
  return redisProcess(
    () => [
      path,
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--dbfilename",
      `dump-${port}.rdb`,
      "--save",
      "",
      "--appendonly",
      "no",
      "--protected-mode",
      "yes",
      ...extra,
    ],
    port,
    /Ready to accept connections/,
    afterTest,
  );
}

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

/** Starts redis-server on 127.0.0.1 and a free port; it is killed after the test, failed or not. */
export async function testRedis(): Promise<TestRedis> {
  const port = findFreePort();
  const server = redisServer(port, tempFolder(), ["--loglevel", "notice"]);
  await server.start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: server.pid,
    command: (...args) => redisCommand(port, args),
    stop: server.kill,
    start: server.start,
    async restart() {
      // The connection closes without an answer: the command's own error is expected.
      await redisCommand(port, ["SHUTDOWN", "SAVE"]).catch(() => {});
      if (!(await server.exited(10_000))) throw new Error(`redis-server (pid ${server.pid()}) did not shut down`);
      await server.start();
    },
  };
}

/** One command over a connection of the test's own (not a server's) to the Redis at `port`; the reply as Redis gives it. */
export async function redisCommand(port: number, args: string[]): Promise<unknown> {
  const client = new Redis({
    host: "127.0.0.1",
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    commandTimeout: 5_000,
  });
  client.on("error", () => {});
  try {
    await client.connect();
    return await client.call(args[0]!, ...args.slice(1));
  } finally {
    client.disconnect();
  }
}
