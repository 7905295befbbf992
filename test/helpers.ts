// Shared test fixtures: real servers and services on free loopback ports, the real binary, and cleanup by PID.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { silentLogger } from "../src/lib/log.ts";
import { findFreeRange } from "../src/lib/ports.ts";
import { serverConfig as cliServerConfig } from "../src/commands/server.ts";
import { type RunningServer, type ServerConfig, startServer } from "../src/server/index.ts";
import type { SessionStore } from "../src/server/state/types.ts";
import { type RunningService, type ServiceOptions, startService } from "../src/service/index.ts";
import { DEFAULT_BROWSERS } from "../src/service/policy.ts";
import type { ReportEvent } from "../src/service/reporter.ts";
import { apiClient } from "../src/protocol/api-client.ts";
import { onCleanup } from "./cleanup.ts";
import { watchLines } from "./lines.ts";

export { onCleanup, watchLines };

export const ROOT = join(import.meta.dir, "..");
export const BINARY = join(ROOT, "dist", "pkipc");

/** The compiled binary; fails with how to build it when it is missing. */
export function binary(): string {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run "bun run build" first (npm test does)`);
  return BINARY;
}

/** Server settings as the CLI defaults them, over a free range; override what a test needs (a range of a test's own may be small). */
export function serverConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  const range = overrides.range ?? findFreeRange(64);
  const servicesFile = join(tempFolder(), "services.json");
  const forceWeakCode = overrides.range !== undefined;
  const { config } = cliServerConfig(
    { listen: "127.0.0.1:0", range: `${range.start}-${range.end}`, servicesFile, forceWeakCode },
    [],
    {},
  );
  return { ...config, ...overrides };
}

const servers = new Map<string, RunningServer>();
/** The SaaS backend's API key of every server a test started, by URL. */
const apiKeys = new Map<string, string>();

/** The API key a test server made for its tests' SaaS backend (throws for a server not started by these helpers). */
export function apiKeyOf(url: string): string {
  const key = apiKeys.get(url);
  if (!key) throw new Error(`${url} was not started by testServer() or serverProcess(): no API key for it`);
  return key;
}

/** An API client acting as the SaaS backend of a test server (its API key), as a real SaaS would call it. */
export function backendApi(url: string, options: { timeoutMs?: number } = {}) {
  return apiClient(url, { ...options, apiKey: apiKeyOf(url) });
}

/**
 * A real server on a free port, with its security defaults on (signatures, origin binding, limits) and an
 * API key for the tests' SaaS backend (`apiKey`, origin: the server's own); stopped after the test.
 */
export async function testServer(
  overrides: Partial<ServerConfig> = {},
  store?: SessionStore,
): Promise<RunningServer & { config: ServerConfig; apiKey: string }> {
  const config = serverConfig(overrides);
  const server = await startServer(config, silentLogger, store);
  servers.set(server.url, server);
  const { key } = await server.registry.issueApiKey("tests", new URL(server.url).origin);
  apiKeys.set(server.url, key);
  onCleanup(() => (servers.delete(server.url), apiKeys.delete(server.url), server.stop()));
  return { ...server, config, apiKey: key };
}

/** The user tests run as: services in tests serve only this user's programs (as root, --users must say so). */
export const TEST_USER = String(process.getuid?.() ?? 0);

/** The processes tests knock from: browsers, plus the compiled client and bun (allowed by configuration, as a deployment would). */
export const TEST_ALLOWED_PROCESSES = [...DEFAULT_BROWSERS, "pkipc", "bun", "bun.exe"];

/** Enrolls a service with a test server the way an operator would: a one-time token, spent over HTTP. */
export async function enrollWith(url: string, name = "test service") {
  const server = servers.get(url);
  if (!server) throw new Error(`${url} was not started by testServer()`);
  const { token } = await server.registry.issueToken(60_000);
  return apiClient(url).enroll(token, name);
}

/** A real service in this process against `server`, collecting every report; stopped after the test. */
export async function testService(
  server: string,
  options: Omit<ServiceOptions, "server"> = {},
): Promise<RunningService & { reports: ReportEvent[] }> {
  const reports: ReportEvent[] = [];
  // Enrolled automatically unless a test brings its own credentials or a server of its own.
  const credentials =
    options.credentials ??
    (servers.has(server)
      ? await enrollWith(server)
      : adminSecrets.has(server)
        ? await apiClient(server).enroll(await enrollmentToken(server), "test service")
        : undefined);
  const service = await startService(
    {
      allowProcesses: TEST_ALLOWED_PROCESSES,
      users: [Number(TEST_USER)],
      ...options,
      credentials,
      server,
      onReport: (e) => (reports.push(e), options.onReport?.(e)),
    },
    silentLogger,
  );
  onCleanup(() => service.stop());
  return { ...service, reports };
}

/**
 * Starts the compiled binary; it is killed by PID after the test if still running. `pkipc client` against
 * a server these helpers started gets that server's API key (PKIPC_API_KEY), as a SaaS backend would have
 * it, unless the test sets PKIPC_API_KEY itself ("" for none).
 */
export function spawnPkipc(args: string[], env: Record<string, string> = {}): Subprocess<"ignore", "pipe", "pipe"> {
  const server = args[0] === "client" ? args[args.indexOf("--server") + 1] : undefined;
  const key = server === undefined ? undefined : apiKeys.get(server);
  const child = Bun.spawn([binary(), ...args], {
    cwd: tempFolder(), // whatever it writes by default (e.g. the server's services file) stays out of the repo
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    // a service's audit and state files go to a folder of the test's own, not the home of whoever runs the tests
    env: {
      ...process.env,
      NO_COLOR: "1",
      PKIPC_STATE_DIR: tempFolder(),
      ...(key ? { PKIPC_API_KEY: key } : {}),
      ...env,
    },
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

/** A private folder for one test (services file, key files), removed after it. */
export function tempFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), "pkipc-test-"));
  onCleanup(() => rmSync(folder, { recursive: true, force: true }));
  return folder;
}

const adminSecrets = new Map<string, string>();

/**
 * `pkipc server` as its own process on a free port and range, with its enrolled services in a private
 * file and a random admin secret (so serviceProcess can enroll); resolves once it listens.
 */
export async function serverProcess(args: string[] = [], env: Record<string, string> = {}) {
  const range = findFreeRange(64);
  const hasRange = args.includes("--range");
  const adminSecret = Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64url");
  const child = spawnPkipc(
    [
      "server",
      ...unless(args, "--listen", ["127.0.0.1:0"]),
      ...(hasRange ? [] : ["--range", `${range.start}-${range.end}`]),
      ...args,
    ],
    {
      PKIPC_ADMIN_SECRET: adminSecret,
      PKIPC_SERVICES_FILE: join(tempFolder(), "services.json"),
      ...env,
    },
  );
  const log = watchLines(child.stderr);
  const match = await log.waitFor(/listening on (https?:\/\/\S+)/);
  const url = match[1]!;
  adminSecrets.set(url, adminSecret);
  onCleanup(() => void (adminSecrets.delete(url), apiKeys.delete(url)));
  // The tests' SaaS backend gets its API key the way an operator makes one: through the admin API.
  const certFile = args.includes("--tls-cert") ? args[args.indexOf("--tls-cert") + 1] : undefined;
  if (certFile) trustedCertificates.set(url, await Bun.file(certFile).text());
  const apiKey = await adminApiKey(url, "tests", new URL(url).origin);
  apiKeys.set(url, apiKey);
  return { child, url, range, log, adminSecret, apiKey };
}

/** A new API key from a server started by serverProcess, through its admin endpoint. */
export async function adminApiKey(serverUrl: string, name: string, origin: string): Promise<string> {
  const ca = trustedCertificates.get(serverUrl);
  const response = await fetch(`${serverUrl}/v1/admin/api-keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminSecrets.get(serverUrl)}`, "content-type": "application/json" },
    body: JSON.stringify({ name, origin }),
    signal: AbortSignal.timeout(10_000),
    ...(ca ? { tls: { ca } } : {}),
  });
  if (response.status !== 201)
    throw new Error(`no API key from ${serverUrl}: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { key: string }).key;
}

/** Certificates (PEM) of https test servers, by URL, that the test process itself trusts when it calls them. */
export const trustedCertificates = new Map<string, string>();

/** A one-time enrollment token from a server started by serverProcess, through its admin endpoint. */
export async function enrollmentToken(serverUrl: string): Promise<string> {
  const ca = trustedCertificates.get(serverUrl);
  const response = await fetch(`${serverUrl}/v1/admin/tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminSecrets.get(serverUrl)}` },
    ...(ca ? { tls: { ca } } : {}),
  });
  if (response.status !== 201)
    throw new Error(`no enrollment token from ${serverUrl}: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { token: string }).token;
}

/** `flag` and its value, unless `args` gives that flag itself (as --flag or --flag=value). */
function unless(args: string[], flag: string, value: string[]): string[] {
  return args.some((a) => a === flag || a.startsWith(`${flag}=`)) ? [] : [flag, ...value];
}

/**
 * `pkipc service` as its own process, enrolled with a fresh token and a private key file, allowing the
 * test knockers (pkipc, bun) besides browsers and serving the test's own user (unless args say
 * `--users`); resolves once it holds its ports.
 */
export async function serviceProcess(serverUrl: string, args: string[] = [], env: Record<string, string> = {}) {
  const enroll = adminSecrets.has(serverUrl) ? ["--enroll", await enrollmentToken(serverUrl)] : [];
  const child = spawnPkipc(
    [
      "service",
      // the defaults a test does not give itself (an option given twice is refused)
      ...unless(args, "--server", [serverUrl]),
      ...unless(args, "--key-file", [join(tempFolder(), "key.json")]),
      ...unless(args, "--allow-processes", [TEST_ALLOWED_PROCESSES.join(",")]),
      ...unless(args, "--users", [TEST_USER]),
      ...(args.includes("--enroll") ? [] : enroll),
      ...args,
    ],
    env,
  );
  const log = watchLines(child.stderr);
  await log.waitFor(/holding \d+ of \d+ ports/);
  return { child, log };
}
