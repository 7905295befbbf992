// Windows binaries under Wine for tests: the tools check (with how to install them), the build, runs in the repo's prefix, cleanup by PID.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { compile } from "../scripts/compile.ts";
import { onCleanup, ROOT } from "./helpers.ts";

/** The Windows build the Wine tests run, named as a user would have it (dist/ is ignored by git). */
export const WINDOWS_BINARY = join(ROOT, "dist", "wine", "pkipc.exe");
export const WINE_RUN = join(ROOT, "scripts", "wine-run.sh");
/** The prefix wine-run.sh prepares and uses. */
export const WINE_PREFIX = join(ROOT, ".wine");

function which(name: string, fallback?: string): string | null {
  const found = Bun.which(name);
  if (found) return found;
  return fallback && existsSync(fallback) ? fallback : null;
}

/** wine64 and wineserver; throws how to install them (and mingw, for the bcryptprimitives stand-in) when missing. */
export function wineTools(): { wine64: string; wineserver: string } {
  const wine64 = which("wine64", "/usr/lib/wine/wine64");
  const wineserver = which("wineserver", "/usr/lib/wine/wineserver");
  const missing = [
    ...(wine64 && wineserver ? [] : ["wine64"]),
    ...(which("x86_64-w64-mingw32-gcc") ? [] : ["gcc-mingw-w64-x86-64-win32"]),
  ];
  if (missing.length) throw new Error(`Wine tests need ${missing.join(" and ")}: apt-get install ${missing.join(" ")}`);
  return { wine64: wine64!, wineserver: wineserver! };
}

/** Builds the Windows binary with the same options as scripts/build.ts, once per test run. */
let built: Promise<string> | undefined;
export function windowsBinary(): Promise<string> {
  built ??= compile(WINDOWS_BINARY, "bun-windows-x64").then(() => WINDOWS_BINARY);
  return built;
}

/** A Linux path as Wine's Z: drive shows it (Z: is the Unix root). */
export const winePath = (path: string) => `Z:${path.replaceAll("/", "\\")}`;

/**
 * Stops every Windows process of the prefix after the test: the processes the test started are killed by
 * PID first; `wineserver -k` then ends what they left (their conhost, services), in this prefix only.
 */
function stopPrefixAfterTest(): void {
  const { wineserver } = wineTools();
  onCleanup(async () => {
    const kill = Bun.spawn([wineserver, "-k"], {
      env: { ...process.env, WINEPREFIX: WINE_PREFIX },
      stdio: ["ignore", "ignore", "ignore"],
    });
    await kill.exited;
  });
}

/** Starts `exe args` under Wine (scripts/wine-run.sh); killed by PID after the test, then the prefix's wineserver is stopped. */
export function spawnWine(
  exe: string,
  args: string[],
  env: Record<string, string> = {},
): Subprocess<"ignore", "pipe", "pipe"> {
  wineTools();
  stopPrefixAfterTest(); // registered first, so it runs after the kill below (cleanups run newest first)
  const child = Bun.spawn([WINE_RUN, exe, ...args], {
    cwd: ROOT,
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

/** Runs `exe args` under Wine to completion (bounded by timeoutMs); its exit code and output. */
export async function runWine(exe: string, args: string[], timeoutMs = 60_000, env: Record<string, string> = {}) {
  const child = spawnWine(exe, args, env);
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Runs `argv` to its end with no pipes (what it starts cannot hold a test's output open), bounded by 120 s. */
async function quietly(argv: string[], env: Record<string, string | undefined>): Promise<void> {
  const child = Bun.spawn(argv, { cwd: ROOT, stdio: ["ignore", "ignore", "ignore"], env });
  onCleanup(async () => {
    if (child.exitCode === null) child.kill("SIGKILL"), await child.exited;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  await child.exited;
  clearTimeout(timer);
}

/**
 * Keeps one wineserver and the prefix's system processes (services, winedevice) up for the rest of the test,
 * started with no pipes. Otherwise every run starts them anew and they hold its stderr open until the wineserver
 * quits: 2.4 s a run on this machine, against 0.05-0.3 s held. The wineserver is this test's child, killed by PID
 * after the test, then `wineserver -k` ends the rest.
 */
export async function holdWinePrefix(): Promise<void> {
  const { wineserver } = wineTools();
  stopPrefixAfterTest();
  const env = { ...process.env, WINEPREFIX: WINE_PREFIX };
  await quietly([WINE_RUN, "cmd", "/c", "exit"], env); // prepares the prefix when needed (once)
  // a persistent wineserver cannot start while the boot's one lingers
  await quietly([wineserver, "-k"], env);
  await quietly([wineserver, "-w"], env);
  const server = Bun.spawn([wineserver, "-f", "-p"], { stdio: ["ignore", "ignore", "ignore"], env });
  onCleanup(async () => {
    if (server.exitCode === null) server.kill("SIGKILL"), await server.exited;
  });
  await quietly([WINE_RUN, "cmd", "/c", "exit"], env); // the system processes, under that server
}
