// Names the browser behind a knock on Windows: walks up to the browser's main process, then reads its executable's version resource.
import type { BrowserInfo, ProcessInfo } from "../../../protocol/schemas.ts";
import type { BrowserIdentifier } from "../types.ts";
import { fileName } from "./attributor.ts";
import * as win32 from "./win32.ts";

/** The Win32 calls the identifier makes; tests may pass their own. */
export type IdentityWin32 = Pick<
  typeof win32,
  "openProcess" | "closeHandle" | "imagePath" | "processEntries" | "fileVersion"
>;

/** Executable or product names of browsers, recognised even when no child process of theirs knocked. */
const BROWSER_NAME = /chrom|firefox|librewolf|edge|brave|opera|vivaldi|waterfox|floorp/i;
const MAX_WALK = 4;
const MAX_CACHED = 256;

/**
 * Returns the Windows browser identifier. Chrome and Edge knock from their network-service utility
 * process, a child of the main process running the same executable; Firefox knocks from its main
 * process. So: walk up while the parent runs the same executable (at most 4 steps), then read that
 * executable's version resource (ProductName, file version) with version.dll: no process is started.
 * Results are cached per PID and versions per executable path.
 */
export function windowsBrowserIdentifier(api: IdentityWin32 = win32): BrowserIdentifier {
  const byPid = new Map<number, Promise<BrowserInfo | undefined>>();
  const byExe = new Map<string, ReturnType<IdentityWin32["fileVersion"]>>();

  const exeOf = (pid: number): string => {
    const handle = api.openProcess(pid);
    if (handle === null) return "";
    try {
      return api.imagePath(handle);
    } finally {
      api.closeHandle(handle);
    }
  };

  function versionOf(exe: string) {
    const key = exe.toLowerCase();
    if (!byExe.has(key)) {
      if (byExe.size >= MAX_CACHED) byExe.delete(byExe.keys().next().value!);
      byExe.set(key, api.fileVersion(exe));
    }
    return byExe.get(key) ?? null;
  }

  async function find(process: ProcessInfo): Promise<BrowserInfo | undefined> {
    if (!process.exe) return undefined;
    const parents = new Map(api.processEntries().map((e) => [e.pid, e.ppid]));
    let pid = process.pid;
    let parent = process.ppid || (parents.get(pid) ?? 0);
    // Windows paths compare without case
    for (
      let step = 0;
      step < MAX_WALK && parent > 4 && exeOf(parent).toLowerCase() === process.exe.toLowerCase();
      step++
    ) {
      pid = parent;
      parent = parents.get(pid) ?? 0;
    }
    const named = versionOf(process.exe);
    const sawChild = pid !== process.pid;
    if (!named || !(sawChild || BROWSER_NAME.test(fileName(process.exe)) || BROWSER_NAME.test(named.productName)))
      return undefined;
    const name = named.productName || fileName(process.exe).replace(/\.exe$/i, "");
    return { name: name.slice(0, 256), version: named.version.slice(0, 64), pid, exe: process.exe };
  }

  return {
    warm(process: ProcessInfo): void {
      if (byPid.has(process.pid)) return;
      if (byPid.size >= MAX_CACHED) byPid.delete(byPid.keys().next().value!);
      byPid.set(
        process.pid,
        find(process).catch(() => undefined),
      );
    },
    async identify(process: ProcessInfo): Promise<ProcessInfo> {
      this.warm(process);
      const browser = await byPid.get(process.pid);
      return browser ? { ...process, browser } : process;
    },
  };
}
