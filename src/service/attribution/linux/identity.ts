// Names the browser behind a knock from data only: walks up to the browser's main process, then reads its version from files, never by running it.
import { lstatSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { BrowserInfo, ProcessInfo } from "../../../protocol/schemas.ts";
import { debianPackages, firstEntries, type PackageDb, readBounded } from "./package-version.ts";

export interface IdentifyOptions {
  /** Where procfs is mounted. Default "/proc". */
  procRoot?: string;
  /** Where installed packages are looked up. Default: dpkg's database under /var/lib/dpkg. */
  packages?: PackageDb;
}

/**
 * Chromium's child processes carry --type=...; Firefox's carry -contentproc. Their parents are the browser.
 * Chromium rewrites its command line into one space-separated string, so match on the joined text.
 */
const isChildProcess = (commandLine: string) => /(^|\s)(--type=|-contentproc(\s|$))/.test(commandLine);
/** Executable names of the browsers recognised without a Chromium child process or a Firefox application.ini. */
const BROWSER_NAME = /chrom|firefox|librewolf|edge|brave|opera|vivaldi|iceweasel/i;
/** WebKitGTK's helper processes: the application that owns them is an ancestor. */
const WEBKIT_HELPER = /^WebKit(Network|Web|GPU)Process$/;
/** Processes that may sit between a WebKit helper and its application (sandbox launchers). */
const LAUNCHER = /^(bwrap|xdg-dbus-proxy|flatpak-spawn)$/;
const MAX_WALK = 4;
const MAX_CACHED = 256;
const MAX_INI_BYTES = 64 << 10;
const MAX_VERSION_FILE_BYTES = 256;
const MAX_FOLDER_ENTRIES = 4096;
/** Display names of browser packages; other packages are shown by their package name. */
const DISPLAY: [RegExp, string][] = [
  [/^chromium/, "Chromium"],
  [/^google-chrome/, "Google Chrome"],
  [/^microsoft-edge/, "Microsoft Edge"],
  [/^brave/, "Brave"],
  [/^vivaldi/, "Vivaldi"],
  [/^opera/, "Opera"],
  [/^firefox/, "Mozilla Firefox"],
  [/^librewolf/, "LibreWolf"],
  [/^epiphany/, "Epiphany"],
];
const VERSION = /^\d+(\.\d+)+[\w.+~-]*$/;

type Named = { name: string; version: string };

const display = (pkg: string) => DISPLAY.find(([pattern]) => pattern.test(pkg))?.[1] ?? pkg;

/**
 * Returns `identify(process)`, which adds `browser` to a knocking process when it belongs to one.
 * Chromium knocks from its network-service utility process (a child of the main process); Firefox
 * knocks from its main process; WebKitGTK applications knock from WebKitNetworkProcess, a child of
 * the application. Versions come from files only (Firefox's application.ini, a version file beside
 * the executable, the package database), cached per executable (path, inode, mtime): nothing a
 * knocking process names is ever executed. Call it only for knocks the local policy accepted.
 */
export function browserIdentifier(options: IdentifyOptions = {}) {
  const proc = options.procRoot ?? "/proc";
  const packages = options.packages ?? debianPackages();
  const byExe = new Map<string, Promise<Named | undefined>>();

  const readProc = (pid: number, file: string) => {
    try {
      return readFileSync(`${proc}/${pid}/${file}`, "latin1").slice(0, 65536);
    } catch {
      return "";
    }
  };
  const commandLine = (pid: number) => readProc(pid, "cmdline").replaceAll("\0", " ");
  const ppidOf = (pid: number) => {
    const stat = readProc(pid, "stat");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) || 0;
  };
  const exeOf = (pid: number) => {
    try {
      return readlinkSync(`${proc}/${pid}/exe`).replace(/ \(deleted\)$/, "");
    } catch {
      return "";
    }
  };
  /** The executable's identity through /proc (so it is the very file the process runs): path, inode, mtime. */
  const identityOf = (pid: number, exe: string) => {
    try {
      const s = statSync(`${proc}/${pid}/exe`);
      return `${exe}\0${s.dev}:${s.ino}:${s.mtimeMs}`;
    } catch {
      return undefined;
    }
  };

  /**
   * A file of the browser's own install folder (the real folder of its executable, from /proc), read
   * for the knocking user: no symbolic link is followed, not for the file nor a folder on the way
   * (a knocker could point one at a root-only file), and only files of that user or readable by all.
   */
  async function installFile(
    exe: string,
    relative: string[],
    maxBytes: number,
    uid: number,
  ): Promise<string | undefined> {
    let at = dirname(exe);
    for (const folder of relative.slice(0, -1)) {
      at = join(at, folder);
      const info = lstatSync(at, { throwIfNoEntry: false });
      if (!info?.isDirectory()) return undefined;
    }
    return readBounded(join(at, relative.at(-1)!), maxBytes, uid);
  }

  /** Firefox and its kin ship an application.ini next to the executable. */
  async function fromApplicationIni(exe: string, uid: number): Promise<Named | undefined> {
    for (const file of [["application.ini"], ["browser", "application.ini"]]) {
      const ini = await installFile(exe, file, MAX_INI_BYTES, uid).catch(() => undefined);
      if (!ini) continue;
      const field = (key: string) => new RegExp(`^${key}=(.+)$`, "m").exec(ini)?.[1]?.trim();
      const version = field("Version");
      if (version)
        return { name: [field("Vendor"), field("Name")].filter(Boolean).join(" ") || basename(exe), version };
    }
    return undefined;
  }

  /** Some Chromium-based builds keep their version beside the binary: a `version` file, or a folder named after it. */
  async function fromVersionFile(exe: string, uid: number): Promise<Named | undefined> {
    for (const file of ["version", "VERSION"]) {
      const text = (await installFile(exe, [file], MAX_VERSION_FILE_BYTES, uid))?.trim().replace(/^v/, "");
      if (text && VERSION.test(text)) return { name: basename(exe), version: text };
    }
    const folder = firstEntries(dirname(exe), MAX_FOLDER_ENTRIES).find((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n));
    return folder ? { name: basename(exe), version: folder } : undefined;
  }

  async function fromPackage(exe: string, key: string): Promise<Named | undefined> {
    const pkg = await packages.of(exe, key);
    return pkg ? { name: display(pkg.name), version: pkg.version } : undefined;
  }

  /** An executable's name and version as the knocking user `uid` may see them, cached per identity and user. */
  function versionOf(pid: number, exe: string, uid: number): Promise<Named | undefined> {
    const key = identityOf(pid, exe);
    if (!key) return Promise.resolve(undefined);
    let found = byExe.get(`${key}\0${uid}`);
    if (!found) {
      found = (async () =>
        (await fromApplicationIni(exe, uid)) ??
        (await fromVersionFile(exe, uid)) ??
        (await fromPackage(exe, key)))().catch(() => undefined);
      if (byExe.size >= MAX_CACHED) byExe.delete(byExe.keys().next().value!);
      byExe.set(`${key}\0${uid}`, found);
    }
    return found;
  }

  /** A WebKitGTK helper: name the application above it, with its version or else the engine's. */
  async function webkitApp(process: ProcessInfo): Promise<BrowserInfo | undefined> {
    let pid = process.ppid || ppidOf(process.pid);
    for (let step = 0; step < MAX_WALK && pid > 1; step++) {
      const exe = exeOf(pid);
      const name = basename(exe);
      if (!exe || WEBKIT_HELPER.test(name) || LAUNCHER.test(name)) {
        pid = ppidOf(pid);
        continue;
      }
      const engine = await versionOf(process.pid, process.exe, process.uid);
      const app = await versionOf(pid, exe, process.uid);
      // MiniBrowser comes in WebKit's own package: then the version is the engine's
      const ownVersion = app && engine && app.name !== engine.name ? app : undefined;
      const appName = ownVersion?.name ?? (name === "epiphany" ? "Epiphany" : name);
      if (ownVersion) return { name: appName, version: ownVersion.version, pid, exe };
      return {
        name: `${appName} (WebKitGTK)`,
        version: engine?.version ?? webkitLibraryVersion(process.exe) ?? "",
        pid,
        exe,
      };
    }
    return undefined;
  }

  async function find(process: ProcessInfo): Promise<BrowserInfo | undefined> {
    if (WEBKIT_HELPER.test(basename(process.exe))) return webkitApp(process);
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
    if (!sawChild && !BROWSER_NAME.test(basename(exe)) && !(await fromApplicationIni(exe, process.uid)))
      return undefined;
    const named = await versionOf(pid, exe, process.uid);
    if (!named) return undefined;
    return { name: named.name.slice(0, 256), version: named.version.slice(0, 64), pid, exe };
  }

  return {
    /** Starts identifying as soon as a knock passed the local policy, so the report does not wait for it. */
    warm(process: ProcessInfo): void {
      void find(process).catch(() => undefined);
    },
    /** The process with `browser` filled in when it belongs to a recognised browser. */
    async identify(process: ProcessInfo): Promise<ProcessInfo> {
      const browser = await find(process).catch(() => undefined);
      return browser
        ? {
            ...process,
            browser: { ...browser, name: browser.name.slice(0, 256), version: browser.version.slice(0, 64) },
          }
        : process;
    },
  };
}

/** libwebkit2gtk-4.1.so.0.19.9 beside the helper's folder: the engine's API and library version, when no package names it. */
function webkitLibraryVersion(helperExe: string): string | undefined {
  const file = firstEntries(dirname(dirname(helperExe)), 65_536).find((n) =>
    /^libwebkit2gtk-[\d.]+\.so\.\d+\.\d+\.\d+$/.test(n),
  );
  const match = file ? /^libwebkit2gtk-([\d.]+)\.so\.([\d.]+)$/.exec(file) : null;
  return match ? `${match[1]} (library ${match[2]})` : undefined;
}

export type BrowserIdentifier = ReturnType<typeof browserIdentifier>;
