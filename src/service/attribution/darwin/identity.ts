// Names the browser behind a knock on macOS: from the knocking process to its app bundle, then the bundle's Info.plist.
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from "node:fs";
import { basename, join } from "node:path";
import type { BrowserInfo, ProcessInfo } from "../../../protocol/schemas.ts";
import { libSystem } from "./libsystem.ts";
import { MAX_PLIST_BYTES, plistStrings } from "./plist.ts";

/** What identity needs to know about other processes; the real one is libSystem, tests pass a table. */
export interface ProcessSource {
  exePath(pid: number): string;
  ppid(pid: number): number;
  /** The app macOS holds responsible for `pid` (Safari for its WebKit XPC services); 0 when unknown. */
  responsiblePid(pid: number): number;
}

export interface DarwinIdentifyOptions {
  processes?: ProcessSource;
  /** Prefixed to every path read (tests put fake bundles under a temp folder). Default "". */
  root?: string;
}

const MAX_WALK = 4;
const MAX_CACHED = 256;

/**
 * The outermost app bundle in an executable's path ("/Applications/Google Chrome.app" for a helper
 * deep inside it), or undefined for an executable outside any app.
 */
export function appBundleOf(exe: string): string | undefined {
  const at = exe.indexOf(".app/");
  return at < 0 ? undefined : exe.slice(0, at + 4);
}

/**
 * Reads at most MAX_PLIST_BYTES of a file; undefined when it is missing, unreadable or larger. With
 * `readerUid` (a file in a knocker's app, read for that user): a link at `path` is not followed, and the
 * file must belong to that user, or to root and be readable by all (as Linux's identity reads files).
 */
function readBounded(path: string, readerUid?: number): Uint8Array | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(
      path,
      constants.O_RDONLY | constants.O_NONBLOCK | (readerUid === undefined ? 0 : constants.O_NOFOLLOW),
    );
    const info = fstatSync(fd);
    const size = info.size;
    if (!info.isFile() || size > MAX_PLIST_BYTES) return undefined;
    if (readerUid !== undefined && info.uid !== readerUid && !(info.uid === 0 && info.mode & 0o004)) return undefined;
    const bytes = new Uint8Array(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, bytes, got, size - got, got);
      if (n <= 0) break;
      got += n;
    }
    return bytes.subarray(0, got);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * An app bundle's name and version from Contents/Info.plist; undefined without a readable one. With
 * `readerUid`, neither Contents nor Info.plist may be a symbolic link (a knocker could point it at a
 * root-only file), and the file must be one that user could read himself.
 */
export function bundleInfo(
  bundle: string,
  root = "",
  readerUid?: number,
): { name: string; version: string } | undefined {
  if (readerUid !== undefined && !lstatSync(join(root, bundle, "Contents"), { throwIfNoEntry: false })?.isDirectory())
    return undefined;
  const bytes = readBounded(join(root, bundle, "Contents", "Info.plist"), readerUid);
  if (!bytes) return undefined;
  let entries: Map<string, string>;
  try {
    entries = plistStrings(bytes);
  } catch {
    return undefined;
  }
  const name = entries.get("CFBundleName") || entries.get("CFBundleDisplayName") || basename(bundle, ".app");
  const version = entries.get("CFBundleShortVersionString") || entries.get("CFBundleVersion") || "";
  return version ? { name: name.slice(0, 256), version: version.slice(0, 64) } : undefined;
}

const realProcesses = (): ProcessSource | undefined => {
  const lib = libSystem();
  if (!lib) return undefined;
  return {
    exePath: (pid) => lib.exePath(pid),
    ppid: (pid) => lib.bsdInfo(pid)?.ppid ?? 0,
    responsiblePid: (pid) => lib.responsiblePid(pid),
  };
};

/**
 * Returns `identify(process)`, which adds `browser` when the knocking process belongs to an app.
 * Chrome knocks from "Google Chrome Helper", an app nested in Google Chrome.app: the outermost app
 * in the path is the browser, and its main process is found up the parent chain. Safari knocks from
 * com.apple.WebKit.Networking, an XPC service of the WebKit framework whose parent is launchd: the
 * app is the process macOS holds responsible for it. Nothing is executed; each Info.plist is read once.
 */
export function darwinBrowserIdentifier(options: DarwinIdentifyOptions = {}) {
  const processes = options.processes ?? realProcesses();
  const root = options.root ?? "";
  const byPid = new Map<number, BrowserInfo | undefined>();
  const byBundle = new Map<string, { name: string; version: string } | undefined>();

  /** The bundle's name and version as the knocking user `uid` may read them. */
  function infoOf(bundle: string, uid: number) {
    const key = `${bundle}\0${uid}`;
    if (!byBundle.has(key)) {
      if (byBundle.size >= MAX_CACHED) byBundle.delete(byBundle.keys().next().value!);
      let info;
      try {
        info = bundleInfo(bundle, root, uid);
      } catch {
        info = undefined;
      }
      byBundle.set(key, info);
    }
    return byBundle.get(key);
  }

  /** The app's main process: up the parent chain while the parent still runs from inside the same app. */
  function mainProcess(pid: number, exe: string, bundle: string): { pid: number; exe: string } {
    let current = { pid, exe };
    for (let step = 0; step < MAX_WALK && processes; step++) {
      const parent = processes.ppid(current.pid);
      if (parent <= 1) break;
      const parentExe = processes.exePath(parent);
      if (appBundleOf(parentExe) !== bundle) break;
      current = { pid: parent, exe: parentExe };
    }
    return current;
  }

  function find(process: ProcessInfo): BrowserInfo | undefined {
    let pid = process.pid;
    let exe = process.exe;
    let bundle = appBundleOf(exe);
    // An XPC service (WebKit's networking process) belongs to whichever app it serves.
    const responsible = processes?.responsiblePid(pid) ?? 0;
    if (responsible > 0 && responsible !== pid) {
      const responsibleExe = processes!.exePath(responsible);
      const responsibleBundle = appBundleOf(responsibleExe);
      if (responsibleBundle && (!bundle || exe.includes(".xpc/")))
        [pid, exe, bundle] = [responsible, responsibleExe, responsibleBundle];
    }
    if (!bundle) return undefined;
    const named = infoOf(bundle, process.uid);
    if (!named) return undefined;
    const main = mainProcess(pid, exe, bundle);
    return { name: named.name, version: named.version, pid: main.pid, exe: main.exe.slice(0, 4096) };
  }

  return {
    warm(process: ProcessInfo): void {
      if (byPid.has(process.pid)) return;
      if (byPid.size >= MAX_CACHED) byPid.delete(byPid.keys().next().value!);
      let found: BrowserInfo | undefined;
      try {
        found = find(process);
      } catch {
        found = undefined;
      }
      byPid.set(process.pid, found);
    },
    /** The process with `browser` filled in when it runs from inside an app bundle with a version. */
    async identify(process: ProcessInfo): Promise<ProcessInfo> {
      this.warm(process);
      const browser = byPid.get(process.pid);
      return browser ? { ...process, browser } : process;
    },
  };
}
