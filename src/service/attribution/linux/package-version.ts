// Versions from the package database: which Debian package installed a file, and that package's version (data only, never a program run).
import { constants, opendirSync } from "node:fs";
import { open, readdir } from "node:fs/promises";
import { basename, dirname } from "node:path";

/** Options of {@link debianPackages}. */
export interface PackageDbOptions {
  /** dpkg's database. Default "/var/lib/dpkg". */
  root?: string;
  /** Most `.list` files read to find a file's package. Default 20,000. */
  maxListFiles?: number;
  /** A `.list` file (or the status file) larger than this is skipped, in bytes. Default 8 MiB (status: 64 MiB). */
  maxFileBytes?: number;
}

/** A package that owns a file, with its upstream version (no epoch, no Debian revision). */
export interface OwningPackage {
  name: string;
  version: string;
}

const MAX_CACHED = 256;

/**
 * Reads a whole regular file unless it is larger than `maxBytes` (then undefined): knockers may control
 * files next to their programs, so every read is bounded before it starts, and a FIFO or device put in
 * a file's place is opened without blocking and then refused.
 *
 * With `readerUid` (a file beside a knocker's program, read as root for that user): a symbolic link at
 * `path` is not followed (O_NOFOLLOW), and the file must belong to that user, or to root and be readable
 * by everyone, so the service never reads for a knocker what the knocker could not read himself.
 */
export async function readBounded(path: string, maxBytes: number, readerUid?: number): Promise<string | undefined> {
  let handle;
  try {
    const noFollow = readerUid === undefined ? 0 : constants.O_NOFOLLOW;
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | noFollow);
    const info = await handle.stat();
    const { size } = info;
    if (!info.isFile() || size > maxBytes) return undefined;
    if (readerUid !== undefined && info.uid !== readerUid && !(info.uid === 0 && info.mode & 0o004)) return undefined;
    const buffer = Buffer.alloc(Math.min(size, maxBytes));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.toString("utf8", 0, bytesRead);
  } catch {
    return undefined;
  } finally {
    await handle?.close().catch(() => {});
  }
}

/** The first `max` names in a folder (a knocker's folder may hold millions): read entry by entry, not all at once. */
export function firstEntries(dir: string, max: number): string[] {
  const names: string[] = [];
  try {
    const handle = opendirSync(dir);
    try {
      for (let entry = handle.readSync(); entry && names.length < max; entry = handle.readSync())
        names.push(entry.name);
    } finally {
      handle.closeSync();
    }
  } catch {
    // unreadable: no names
  }
  return names;
}

/** "1:156.0.8078.114-1~deb12u1" -> "156.0.8078.114": drops the epoch and the Debian revision. */
export function upstreamVersion(debian: string): string {
  const noEpoch = debian.replace(/^\d+:/, "");
  const dash = noEpoch.lastIndexOf("-");
  return dash > 0 ? noEpoch.slice(0, dash) : noEpoch;
}

/** The `Version:` of `pkg` (optionally `pkg:arch`) in a dpkg status file's text. */
export function versionInStatus(status: string, pkg: string): string | undefined {
  const [name, arch] = pkg.split(":");
  const text = `\n${status}`;
  // find each stanza of the package by its first line instead of splitting the whole file (~1 MB)
  for (let at = text.indexOf(`\nPackage: ${name}\n`); at >= 0; at = text.indexOf(`\nPackage: ${name}\n`, at + 1)) {
    const end = text.indexOf("\n\n", at + 1);
    const stanza = text.slice(at, end < 0 ? text.length : end);
    const field = (key: string) => new RegExp(`^${key}: *(.+)$`, "m").exec(stanza)?.[1]?.trim();
    const stanzaArch = field("Architecture");
    if (arch && stanzaArch && stanzaArch !== arch && stanzaArch !== "all") continue;
    const version = field("Version");
    if (version) return version;
  }
  return undefined;
}

/**
 * Finds the Debian package that installed a path (through /var/lib/dpkg/info/*.list) and its version
 * (from /var/lib/dpkg/status). The `.list` files whose names resemble the path are read first, so a
 * browser's package is usually found in one or two reads; the rest follow one file at a time (async,
 * so knocks are still accepted meanwhile). Answers are cached per path.
 */
export function debianPackages(options: PackageDbOptions = {}) {
  const root = options.root ?? "/var/lib/dpkg";
  const maxListFiles = options.maxListFiles ?? 20_000;
  const maxFileBytes = options.maxFileBytes ?? 8 << 20;
  const byPath = new Map<string, Promise<OwningPackage | undefined>>();

  async function owner(path: string): Promise<string | undefined> {
    // usrmerge: dpkg may have recorded /lib/... for what is now /usr/lib/...
    const wanted = [path, path.startsWith("/usr/") ? path.slice(4) : `/usr${path}`].map((p) => `\n${p}\n`);
    let lists: string[];
    try {
      lists = (await readdir(`${root}/info`)).filter((n) => n.endsWith(".list")).slice(0, maxListFiles);
    } catch {
      return undefined;
    }
    const hints = [basename(path), basename(dirname(path))]
      .map((h) => h.toLowerCase().replace(/[-_.].*$/, ""))
      .filter((h) => h.length >= 3);
    const likely = (n: string) => hints.some((h) => n.toLowerCase().includes(h));
    for (const list of [...lists.filter(likely), ...lists.filter((n) => !likely(n))]) {
      const text = await readBounded(`${root}/info/${list}`, maxFileBytes);
      if (text && wanted.some((w) => `\n${text}`.includes(w))) return list.slice(0, -".list".length);
    }
    return undefined;
  }

  async function find(path: string): Promise<OwningPackage | undefined> {
    const pkg = await owner(path);
    if (!pkg) return undefined;
    const status = await readBounded(`${root}/status`, Math.max(maxFileBytes, 64 << 20));
    const version = status ? versionInStatus(status, pkg) : undefined;
    return version ? { name: pkg.split(":")[0]!, version: upstreamVersion(version) } : undefined;
  }

  return {
    /**
     * The package that installed `path` and its upstream version; undefined when no package owns it.
     * Cached under `key` (default the path; the identity passes path, inode and mtime, so an upgrade is seen).
     */
    of(path: string, key = path): Promise<OwningPackage | undefined> {
      let found = byPath.get(key);
      if (!found) {
        found = find(path).catch(() => undefined);
        if (byPath.size >= MAX_CACHED) byPath.delete(byPath.keys().next().value!);
        byPath.set(key, found);
      }
      return found;
    },
  };
}

export type PackageDb = ReturnType<typeof debianPackages>;
