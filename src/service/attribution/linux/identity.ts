// Names the browser behind a knock: walks up from the knocking process to the browser's main process, then reads its name and version.
import { readFileSync, readlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { BrowserInfo, ProcessInfo } from "../../../protocol/schemas.ts";

export interface IdentifyOptions {
  /** Where procfs is mounted. Default "/proc". */
  procRoot?: string;
  /** Longest a `--version` run may take, in ms. Default 3,000. */
  versionTimeoutMs?: number;
}

/**
 * Chromium's child processes carry --type=...; Firefox's carry -contentproc. Their parents are the browser.
 * Chromium rewrites its command line into one space-separated string, so match on the joined text.
 */
const isChildProcess = (commandLine: string) => /(^|\s)(--type=|-contentproc(\s|$))/.test(commandLine);
/** Executable names of the browsers recognised without a Chromium child process or a Firefox application.ini. */
const BROWSER_NAME = /chrom|firefox|librewolf|edge|brave|opera|vivaldi|iceweasel/i;
const MAX_WALK = 4;
const MAX_CACHED = 256;

/**
 * Returns `identify(process)`, which adds `browser` to a knocking process when it belongs to one.
 * Chromium knocks from its network-service utility process (a child of the main process); Firefox
 * knocks from its main process. Results are cached per pid and versions per executable, so only the
 * first knock of a browser pays for a `--version` run (about 150 ms for Chromium).
 */
export function browserIdentifier(options: IdentifyOptions = {}) {
  const proc = options.procRoot ?? "/proc";
  const versionTimeoutMs = options.versionTimeoutMs ?? 3_000;
  const byPid = new Map<number, Promise<BrowserInfo | undefined>>();
  const byExe = new Map<string, Promise<{ name: string; version: string } | undefined>>();

  const commandLine = (pid: number) => {
    try {
      return readFileSync(`${proc}/${pid}/cmdline`, "latin1").replaceAll("\0", " ");
    } catch {
      return "";
    }
  };
  const ppidOf = (pid: number) => {
    try {
      const stat = readFileSync(`${proc}/${pid}/stat`, "latin1");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    } catch {
      return 0;
    }
  };
  const exeOf = (pid: number) => {
    try {
      return readlinkSync(`${proc}/${pid}/exe`).replace(/ \(deleted\)$/, "");
    } catch {
      return "";
    }
  };

  /** Firefox and its kin ship an application.ini next to the executable: no process needs to run. */
  function fromApplicationIni(exe: string): { name: string; version: string } | undefined {
    for (const file of [join(dirname(exe), "application.ini"), join(dirname(exe), "browser", "application.ini")]) {
      try {
        const ini = readFileSync(file, "utf8");
        const field = (key: string) => new RegExp(`^${key}=(.+)$`, "m").exec(ini)?.[1]?.trim();
        const version = field("Version");
        if (version) return { name: [field("Vendor"), field("Name")].filter(Boolean).join(" "), version };
      } catch {
        // not there: try the next place
      }
    }
    return undefined;
  }

  /** Chromium and its kin print "Chromium 156.0.8078.79 ..." for --version. */
  async function fromVersionFlag(exe: string): Promise<{ name: string; version: string } | undefined> {
    try {
      const child = Bun.spawn([exe, "--version"], { stdout: "pipe", stderr: "ignore", stdin: "ignore" });
      const timer = setTimeout(() => child.kill("SIGKILL"), versionTimeoutMs);
      const text = (await new Response(child.stdout).text()).slice(0, 512);
      await child.exited;
      clearTimeout(timer);
      const match = /^(.*?)\s*(\d+(?:\.\d+)+\S*)/.exec(text.trim());
      return match ? { name: match[1] || basename(exe), version: match[2]! } : undefined;
    } catch {
      return undefined;
    }
  }

  function versionOf(exe: string): Promise<{ name: string; version: string } | undefined> {
    let found = byExe.get(exe);
    if (!found) {
      const ini = fromApplicationIni(exe);
      found = ini ? Promise.resolve(ini) : fromVersionFlag(exe);
      if (byExe.size >= MAX_CACHED) byExe.delete(byExe.keys().next().value!);
      byExe.set(exe, found);
    }
    return found;
  }

  async function find(process: ProcessInfo): Promise<BrowserInfo | undefined> {
    let pid = process.pid;
    let sawChild = false;
    for (let step = 0; step < MAX_WALK && isChildProcess(commandLine(pid)); step++) {
      sawChild = true;
      const parent = ppidOf(pid);
      if (parent <= 1) return undefined;
      pid = parent;
    }
    const exe = pid === process.pid ? process.exe : exeOf(pid);
    if (!exe) return undefined;
    const ini = fromApplicationIni(exe);
    if (!sawChild && !ini && !BROWSER_NAME.test(basename(exe))) return undefined;
    const named = await versionOf(exe);
    if (!named) return undefined;
    return { name: named.name.slice(0, 256), version: named.version.slice(0, 64), pid, exe };
  }

  return {
    /** Starts identifying as soon as a knock is attributed, so the report does not wait for it. */
    warm(process: ProcessInfo): void {
      if (byPid.has(process.pid)) return;
      if (byPid.size >= MAX_CACHED) byPid.delete(byPid.keys().next().value!);
      byPid.set(process.pid, find(process).catch(() => undefined));
    },
    /** The process with `browser` filled in when it belongs to a recognised browser. */
    async identify(process: ProcessInfo): Promise<ProcessInfo> {
      this.warm(process);
      const browser = await byPid.get(process.pid);
      return browser ? { ...process, browser } : process;
    },
  };
}

export type BrowserIdentifier = ReturnType<typeof browserIdentifier>;
