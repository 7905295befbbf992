// Shared test fixtures: real servers and services on free loopback ports, the real binary, and cleanup by PID.
import { afterEach } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { silentLogger } from "../src/lib/log.ts";
import { findFreeRange } from "../src/lib/ports.ts";
import { serverConfig as cliServerConfig } from "../src/server/command.ts";
import { type RunningServer, type ServerConfig, startServer } from "../src/server/index.ts";
import { type RunningService, type ServiceOptions, startService } from "../src/service/index.ts";
import type { ReportEvent } from "../src/service/reporter.ts";
import { watchLines } from "./lines.ts";

export { watchLines };

export const ROOT = join(import.meta.dir, "..");
export const BINARY = join(ROOT, "dist", "pkipc");

/** The compiled binary; fails with how to build it when it is missing. */
export function binary(): string {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run "bun run build" first (npm test does)`);
  return BINARY;
}

const cleanups: Array<() => Promise<void> | void> = [];

/** Registers something to undo after the current test, even when it fails. */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

afterEach(async () => {
  while (cleanups.length) {
    try {
      await cleanups.pop()!();
    } catch {
      // keep cleaning up the rest
    }
  }
});

/** Server settings as the CLI defaults them, over a free range; override what a test needs. */
export function serverConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  const range = overrides.range ?? findFreeRange(64);
  const { config } = cliServerConfig({ listen: "127.0.0.1:0", range: `${range.start}-${range.end}` }, [], {});
  return { ...config, ...overrides };
}

/** A real server on a free port, stopped after the test. */
export async function testServer(overrides: Partial<ServerConfig> = {}): Promise<RunningServer & { config: ServerConfig }> {
  const config = serverConfig(overrides);
  const server = await startServer(config, silentLogger);
  onCleanup(() => server.stop());
  return { ...server, config };
}

/** A real service in this process against `server`, collecting every report; stopped after the test. */
export async function testService(
  server: string,
  options: Omit<ServiceOptions, "server"> = {},
): Promise<RunningService & { reports: ReportEvent[] }> {
  const reports: ReportEvent[] = [];
  const service = await startService({ ...options, server, onReport: (e) => (reports.push(e), options.onReport?.(e)) }, silentLogger);
  onCleanup(() => service.stop());
  return { ...service, reports };
}

/** Starts the compiled binary; it is killed by PID after the test if still running. */
export function spawnPkipc(args: string[], env: Record<string, string> = {}): Subprocess<"ignore", "pipe", "pipe"> {
  const child = Bun.spawn([binary(), ...args], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  onCleanup(async () => {
    if (child.exitCode === null) {
      child.kill("SIGKILL");
      await child.exited;
    }
  });
  return child;
}

/** Runs the binary to completion (bounded by timeoutMs) and returns its exit code and output. */
export async function runPkipc(args: string[], timeoutMs = 30_000, env: Record<string, string> = {}) {
  const child = spawnPkipc(args, env);
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr, pid: child.pid };
}

/** Waits until `check` is true, polling; fails after timeoutMs with `what`. */
export async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** The bun that runs tests, to start fixture scripts as separate processes. */
export const BUN = process.execPath;

/** `pkipc server` as its own process on a free port and range; resolves once it listens. */
export async function serverProcess(args: string[] = [], env: Record<string, string> = {}) {
  const range = findFreeRange(64);
  const hasRange = args.includes("--range");
  const child = spawnPkipc(["server", "--listen", "127.0.0.1:0", ...(hasRange ? [] : ["--range", `${range.start}-${range.end}`]), ...args], env);
  const log = watchLines(child.stderr);
  const match = await log.waitFor(/listening on (http:\/\/\S+)/);
  return { child, url: match[1]!, range, log };
}

/** `pkipc service` as its own process; resolves once it holds its ports. */
export async function serviceProcess(serverUrl: string, args: string[] = [], env: Record<string, string> = {}) {
  const child = spawnPkipc(["service", "--server", serverUrl, ...args], env);
  const log = watchLines(child.stderr);
  await log.waitFor(/holding \d+ of \d+ ports/);
  return { child, log };
}
