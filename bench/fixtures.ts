// What the benchmarks share: the compiled binary as server and service, enrolled as an operator would, with the
// limits a benchmark would trip raised by command-line options (and said so), every process killed by PID.
// test/helpers.ts does the same for tests, but registers its cleanup with bun:test, so benchmarks cannot use it.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { findFreePort, findFreeRange } from "../src/lib/ports.ts";
import type { OptionSpecs } from "../src/lib/options.ts";
import { serverOptions } from "../src/commands/server.ts";
import { serviceOptions } from "../src/commands/service/options.ts";
import { watchLines } from "../test/lines.ts";

/** The binary under test: dist/pkipc, or PKIPC_BENCH_BINARY (e.g. an older build, to compare before and after). */
export const BINARY = process.env.PKIPC_BENCH_BINARY || join(import.meta.dir, "..", "dist", "pkipc");
/** What spawnBinary starts: BINARY unless useBinary chose another (a bench comparing two builds side by side). */
let current = BINARY;

/**
 * Makes spawnBinary start `path` from now on (BINARY when undefined). Name the file pkipc: a service
 * allows the client by its process name, which is the file's.
 */
export function useBinary(path: string | undefined): void {
  current = path ?? BINARY;
}

const started: Subprocess[] = [];
const folders: string[] = [];

/** A private folder for files the binary writes (services file, key file); removed by stopAll(). */
function benchFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), "pkipc-bench-"));
  folders.push(folder);
  return folder;
}

/** Starts the binary; stdout and stderr are piped (the caller must drain them: watchLines does). */
export function spawnBinary(args: string[], env: Record<string, string> = {}, cwd?: string) {
  if (!existsSync(current)) throw new Error(`${current} is missing: run "bun run build" first (bun run bench does)`);
  const child = Bun.spawn([current, ...args], {
    cwd: cwd ?? benchFolder(),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  started.push(child);
  return child;
}

/** Kills every process started here, by PID, and removes the bench folders. Safe to call twice. */
export async function stopAll(): Promise<void> {
  for (const child of started.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(child.pid, "SIGKILL");
    } catch {
      // already gone
    }
    await Promise.race([child.exited, Bun.sleep(2000)]);
  }
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
}

/** Values for some options of a role, by their camelCase name, e.g. { sessionRate: "1000,1000" }. */
export type Raise<S extends OptionSpecs> = Partial<Record<keyof S & string, string>>;

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The flags for `values`, and one line per flag saying what it was by default ("--session-rate 1000,1000 (default 5,30)"). */
export function optionFlags<S extends OptionSpecs>(specs: S, values: Raise<S>): { args: string[]; said: string[] } {
  const args: string[] = [];
  const said: string[] = [];
  for (const [name, value] of Object.entries(values) as [string, string][]) {
    const spec = specs[name];
    if (!spec) throw new Error(`no option ${name}`);
    args.push(`--${kebab(name)}`, value);
    const was = spec.default ?? "unset";
    // The default allow-list names two dozen browsers: say so rather than print them all.
    const shown =
      was.length > 40 ? `${was.split(",").slice(0, 3).join(",")},... (${was.split(",").length} names)` : was;
    said.push(`--${kebab(name)} ${value} (default ${shown})`);
  }
  return { args, said };
}

export interface BenchServer {
  url: string;
  port: number;
  pid: number;
  range: { start: number; end: number };
  adminSecret: string;
  /** The API key of the benchmark's SaaS backend (its clients create sessions with it). */
  apiKey: string;
  /** The raised options, as flags with their defaults. */
  raised: string[];
  lines: string[];
}

/**
 * `pkipc server` on a free port and range of 127.0.0.1, with a random admin secret (so services can be
 * enrolled) and its services file in a private folder; `raise` sets options above their defaults. Instances
 * of one deployment (several on one Redis) are given the same `range`.
 */
export async function benchServer(
  raise: Raise<typeof serverOptions> = {},
  extra: string[] = [],
  range = findFreeRange(64),
): Promise<BenchServer> {
  const adminSecret = Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64url");
  const folder = benchFolder();
  const { args, said } = optionFlags(serverOptions, raise);
  const child = spawnBinary(
    ["server", "--listen", "127.0.0.1:0", "--range", `${range.start}-${range.end}`, ...args, ...extra],
    { PKIPC_ADMIN_SECRET: adminSecret, PKIPC_SERVICES_FILE: join(folder, "services.json") },
    folder,
  );
  const log = watchLines(child.stderr);
  const url = (await log.waitFor(/listening on (https?:\/\/\S+)/, 15_000))[1]!;
  const server = {
    url,
    port: Number(new URL(url).port),
    pid: child.pid,
    range,
    adminSecret,
    raised: said,
    lines: log.lines,
    apiKey: "",
  };
  server.apiKey = await adminApiKey(server);
  return server;
}

/**
 * An API key for the benchmark's SaaS backend, from `pkipc admin api-key` as the README tells an operator; its
 * sessions belong to `origin` (default: the server's own, whose demo page the browser benchmark drives).
 */
export async function adminApiKey(server: Omit<BenchServer, "apiKey">, origin = server.url): Promise<string> {
  const child = spawnBinary(
    ["admin", "api-key", "bench", "--origin", origin, "--server", server.url, "--timeout", "10s"],
    { PKIPC_ADMIN_SECRET: server.adminSecret },
  );
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  try {
    const [out, err, code] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    const key = out.split("\n")[0]?.trim();
    if (code !== 0 || !key) throw new Error(`pkipc admin api-key failed (exit ${code}): ${err.trim() || out.trim()}`);
    return key;
  } finally {
    clearTimeout(timer);
  }
}

/** A one-time enrollment token, from `pkipc admin token` as the README tells an operator; killed after 15 s. */
export async function adminToken(server: BenchServer): Promise<string> {
  const child = spawnBinary(["admin", "token", "--server", server.url, "--timeout", "10s"], {
    PKIPC_ADMIN_SECRET: server.adminSecret,
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  try {
    const [out, err, code] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    const token = out.split("\n")[0]?.trim();
    if (code !== 0 || !token) throw new Error(`pkipc admin token failed (exit ${code}): ${err.trim() || out.trim()}`);
    return token;
  } finally {
    clearTimeout(timer);
  }
}

export interface BenchService {
  pid: number;
  raised: string[];
  lines: string[];
}

/** `pkipc service`, enrolled with a fresh token into a private key file, ready once it holds the range. */
export async function benchService(
  server: BenchServer,
  raise: Raise<typeof serviceOptions> = {},
  env: Record<string, string> = {},
): Promise<BenchService> {
  const folder = benchFolder();
  const { args, said } = optionFlags(serviceOptions, raise);
  const token = await adminToken(server);
  const child = spawnBinary(
    ["service", "--server", server.url, "--key-file", join(folder, "key.json"), "--enroll", token, ...args],
    { PKIPC_USERS: String(process.getuid?.() ?? 0), ...env },
    folder,
  ); // as root it must be told whose programs to link
  const log = watchLines(child.stderr);
  await log.waitFor(/holding \d+ of \d+ ports/, 15_000);
  return { pid: child.pid, raised: said, lines: log.lines };
}

/** Prints which limits a benchmark raised, so its numbers are read against the right configuration. */
export function printRaised(server: BenchServer, service?: BenchService): void {
  console.log(`limits raised for this benchmark (server ${server.url}): ${server.raised.join(", ") || "none"}`);
  if (service)
    console.log(
      `  service (pid ${service.pid}, enrolled with pkipc admin token): ${service.raised.join(", ") || "none"}`,
    );
}

/** redis-server on a free port, persistence off, in a temp folder; killed by PID at the end. */
export async function startRedis(): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const path = Bun.spawnSync(["sh", "-c", "command -v redis-server"]).stdout.toString().trim();
  if (!path) throw new Error("redis-server is not installed: apt-get install redis-server");
  const dir = mkdtempSync(join(tmpdir(), "pkipc-bench-redis-"));
  const port = findFreePort();
  const child = Bun.spawn(
    [path, "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"],
    { stdout: "pipe", stderr: "pipe" },
  );
  await watchLines(child.stdout).waitFor(/Ready to accept connections/, 10_000);
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    async stop() {
      child.kill("SIGKILL");
      await child.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
