// Linux attribution from procfs: the socket's row in /proc/net/tcp{,6}, then the process holding its inode.
import { closeSync, openSync, readdirSync, readlinkSync, readSync, statSync } from "node:fs";
import { endianness } from "node:os";
import { AttributionError } from "../../../lib/errors.ts";
import { canonicalAddress, formatAddress } from "../address.ts";
import { openSockDiag, type SockDiag, type SocketEnds } from "./sock-diag.ts";
import type { Attributor, KnockSocket, ProcessInfo } from "../types.ts";

export { canonicalAddress } from "../address.ts";
export type { Attributor, KnockSocket, ProcessInfo } from "../types.ts";

/** Options of {@link linuxAttributor}. */
export interface LinuxAttributorOptions {
  /** Where procfs is mounted. Default "/proc". */
  procRoot?: string;
  /** How many recently attributed pids are tried before any scan (most recent first). Default 64. */
  recentLimit?: number;
  /** Where user names come from. Default "/etc/passwd". */
  passwdPath?: string;
  /**
   * Look sockets up one by one over netlink (sock_diag) when few knocks wait, instead of reading the
   * whole of /proc/net/tcp. Default: on with the real /proc, where it is available.
   */
  sockDiag?: boolean;
}

/** One row of /proc/net/tcp or /proc/net/tcp6, addresses in canonical text (see {@link canonicalAddress}). */
export interface TcpRow {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  state: number;
  uid: number;
  inode: number;
}

const HOST_LITTLE_ENDIAN = endianness() === "LE";
/** Knocks whose rows are looked up in one table read; the rest wait for the next slice. */
const MAX_BATCH = 1024;
const MAX_INCOMING = 8192;
const MAX_TARGETS = 8192;
const MAX_PIDS = 1 << 22; // the kernel's own ceiling for pid_max
const MAX_TABLE_BYTES = 64 << 20;
const MAX_RECENT = 4096;
const MAX_USERS = 65536;
/** Knocks looked up one by one over netlink; a bigger batch reads the tables once (~40 us a lookup, ~1 ms a table). */
const DIAG_BATCH = 16;
/** A scan slice blocks the event loop about this long (one process at least), so knocks are accepted meanwhile. */
const SLICE_MS = 4;
/** A socket not found after this long resolves null: a browser closed it long before. */
const TARGET_BUDGET_MS = 5000;
/** Errors of a process that exited, or that we may not look into, during a scan: skip it. */
const GONE = new Set(["ENOENT", "ESRCH", "EACCES", "EPERM"]);

function isGone(error: unknown): boolean {
  return GONE.has((error as { code?: string } | null)?.code ?? "");
}

/** The bytes of one 32-bit word as procfs prints it: the raw in-memory word, so host byte order. */
function wordBytes(hex: string, littleEndian: boolean): number[] {
  const n = Number.parseInt(hex, 16);
  const bytes = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return littleEndian ? bytes.reverse() : bytes;
}

function parseEndpoint(field: string, littleEndian: boolean): [string, number] | null {
  const colon = field.indexOf(":");
  const hex = field.slice(0, colon);
  const port = field.slice(colon + 1);
  if (colon < 0 || (hex.length !== 8 && hex.length !== 32) || !/^[0-9A-Fa-f]+$/.test(hex)) return null;
  if (!/^[0-9A-Fa-f]{4}$/.test(port)) return null;
  const bytes: number[] = [];
  for (let i = 0; i < hex.length; i += 8) bytes.push(...wordBytes(hex.slice(i, i + 8), littleEndian));
  return [formatAddress(bytes), Number.parseInt(port, 16)];
}

/**
 * Parses one data line of /proc/net/tcp or /proc/net/tcp6 (null for the header or a malformed line).
 * Addresses are 32-bit words printed in host byte order; ports are plain hexadecimal numbers.
 */
export function parseTcpLine(line: string, littleEndian = HOST_LITTLE_ENDIAN): TcpRow | null {
  // sl local remote st tx:rx tr:when retrnsmt uid timeout inode ...
  const f = line.trim().split(/\s+/);
  if (f.length < 10 || !/^\d+:$/.test(f[0] ?? "")) return null;
  const local = parseEndpoint(f[1] ?? "", littleEndian);
  const remote = parseEndpoint(f[2] ?? "", littleEndian);
  const uid = Number(f[7]);
  const inode = Number(f[9]);
  if (!local || !remote || !Number.isInteger(uid) || !Number.isInteger(inode)) return null;
  return {
    localAddress: local[0],
    localPort: local[1],
    remoteAddress: remote[0],
    remotePort: remote[1],
    state: Number.parseInt(f[3] ?? "", 16),
    uid,
    inode,
  };
}

/** A knock as its peer's socket sees it: our remote end is its local end. */
function peerOf(knock: KnockSocket): SocketEnds {
  return {
    localAddress: canonicalAddress(knock.remoteAddress),
    localPort: knock.remotePort,
    remoteAddress: canonicalAddress(knock.localAddress),
    remotePort: knock.localPort,
  };
}

const rowKey = (s: SocketEnds) => `${s.localAddress} ${s.localPort} ${s.remoteAddress} ${s.remotePort}`;

/** One netlink socket for the process, opened on first use; null once it proved unavailable. */
let sharedDiag: SockDiag | null | undefined;
function sockDiag(): SockDiag | null {
  if (sharedDiag === undefined) sharedDiag = openSockDiag() ?? null;
  return sharedDiag;
}

/** The local port of the row text[start, end) ("  12: 0100007F:10D3 ..."), or -1. */
function localPortOf(text: string, start: number, end: number): number {
  const sl = text.indexOf(":", start);
  const colon = sl >= 0 && sl < end ? text.indexOf(":", sl + 1) : -1;
  return colon >= 0 && colon + 5 <= end ? Number.parseInt(text.slice(colon + 1, colon + 5), 16) : -1;
}

const readBuffer = Buffer.allocUnsafe(1 << 16);

/** procfs files report size 0, so read until EOF; big reads keep the kernel from re-walking its table. */
function readProcFile(path: string, limit: number, encoding: BufferEncoding = "latin1"): string {
  const fd = openSync(path, "r");
  try {
    const chunks: string[] = [];
    for (let total = 0; total < limit; ) {
      const n = readSync(fd, readBuffer, 0, readBuffer.length, null);
      if (n <= 0) break;
      chunks.push(readBuffer.toString(encoding, 0, n));
      total += n;
    }
    return chunks.join("");
  } finally {
    closeSync(fd);
  }
}

/** uid -> user name from a passwd file, re-read only when the file changes. */
function passwdNames(path: string): (uid: number) => string {
  let cached: { stamp: string; names: Map<number, string> } | null = null;
  return (uid) => {
    try {
      const st = statSync(path);
      const stamp = `${st.mtimeMs} ${st.size} ${st.ino}`;
      if (cached?.stamp !== stamp) {
        const names = new Map<number, string>();
        for (const line of readProcFile(path, 16 << 20).split("\n")) {
          const [name, , id] = line.split(":");
          const n = Number(id);
          // getpwuid returns the first entry of a uid; later duplicates are ignored the same way
          if (name && id && Number.isInteger(n) && !names.has(n) && names.size < MAX_USERS) names.set(n, name);
        }
        cached = { stamp, names };
      }
      return cached.names.get(uid) ?? String(uid);
    } catch {
      return String(uid);
    }
  };
}

interface Waiter {
  key: string;
  /** The knocking socket as its owner sees it. */
  peer: SocketEnds;
  resolve(info: ProcessInfo | null): void;
  reject(error: unknown): void;
}

/** A socket whose row was found, waiting for the process that holds it. */
interface Target {
  uid: number;
  waiters: Waiter[];
  expires: number;
  /** Joined a scan already under way: the pids visited before it must be visited again in the next scan. */
  partial: boolean;
}

/** A walk over /proc, newest pid first, resumed across slices. */
interface Scan {
  pids: number[];
  next: number;
  /** pids whose /proc dir is root's while no target is root's: non-dumpable processes, for a second round. */
  rootOwned: number[];
  rootNext: number;
}

/**
 * Attribution through procfs. Knocks that arrive together (before the next setImmediate) share one
 * read of the tables; their sockets are then looked for among the recent knockers, then by a scan of
 * the processes of the socket's owner, newest pid first. The scan runs in synchronous slices of a few
 * milliseconds (thousands of readlinks cost far less synchronously than as promises) and yields between
 * them, so knocks that land meanwhile are accepted and pinned to their row before their peer closes.
 */
export function linuxAttributor(options: LinuxAttributorOptions = {}): Attributor {
  const proc = options.procRoot ?? "/proc";
  const recentLimit = Math.max(0, Math.min(Math.floor(options.recentLimit ?? 64), MAX_RECENT));
  const userName = passwdNames(options.passwdPath ?? "/etc/passwd");
  const useDiag = options.sockDiag ?? proc === "/proc";
  const recent: number[] = []; // most recent first, never longer than recentLimit
  const incoming: Waiter[] = [];
  const targets = new Map<number, Target>(); // socket inode -> target
  let scan: Scan | null = null;
  let scheduled = false;

  function settle(inode: number, info: ProcessInfo | null): void {
    const target = targets.get(inode);
    targets.delete(inode);
    for (const w of target?.waiters ?? []) w.resolve(info);
  }

  /** Pins each knock to its peer's socket (uid, inode); a knock without a live row settles null. */
  function join(waiters: Waiter[]): void {
    const wanted = new Map<string, Waiter[]>();
    for (const w of waiters) wanted.set(w.key, [...(wanted.get(w.key) ?? []), w]);
    const rows: [{ uid: number; inode: number }, Waiter[]][] = [];
    const diag = useDiag && wanted.size <= DIAG_BATCH ? sockDiag() : null;
    if (diag) {
      for (const [key, found] of wanted) {
        const owner = diag.find(found[0]!.peer);
        if (owner === undefined) continue; // this one goes through the tables below
        wanted.delete(key);
        if (owner && owner.inode !== 0) rows.push([owner, found]);
        else for (const w of found) w.resolve(null);
      }
    }
    const ports = new Set([...wanted.values()].map((found) => found[0]!.peer.localPort));
    // tcp6 only when needed: each table read walks the kernel's whole hash table (about 1 ms)
    for (const table of ["tcp", "tcp6"]) {
      if (wanted.size === 0) break;
      let text: string;
      try {
        text = readProcFile(`${proc}/net/${table}`, MAX_TABLE_BYTES);
      } catch (error) {
        if (table === "tcp6" && isGone(error)) break; // IPv6 disabled
        throw new AttributionError(`Cannot read ${proc}/net/${table} to attribute knocks.`, { cause: error });
      }
      for (let start = 0, end = 0; start < text.length; start = end + 1) {
        end = text.indexOf("\n", start);
        if (end < 0) end = text.length;
        // most rows are other sockets (TIME_WAIT ones pile up by the thousand): parse only rows whose
        // local port NUMBER is a knocking peer's port
        if (!ports.has(localPortOf(text, start, end))) continue;
        const row = parseTcpLine(text.slice(start, end));
        // inode 0: the socket is closing and no process holds it any more
        if (!row || row.inode === 0) continue;
        const key = rowKey(row);
        const found = wanted.get(key);
        if (!found) continue;
        wanted.delete(key);
        rows.push([row, found]);
      }
    }
    for (const missing of wanted.values()) for (const w of missing) w.resolve(null);
    const partial = scan !== null && scan.next > 0;
    const expires = performance.now() + TARGET_BUDGET_MS;
    for (const [row, found] of rows) {
      const target = targets.get(row.inode);
      if (target) target.waiters.push(...found);
      else if (targets.size < MAX_TARGETS) targets.set(row.inode, { uid: row.uid, waiters: found, expires, partial });
      else for (const w of found) w.resolve(null);
    }
  }

  /** Reads one process's descriptors and settles every target among them; false when the process is gone (or closed to us). */
  function scanFds(pid: number): boolean {
    let fds: string[];
    try {
      fds = readdirSync(`${proc}/${pid}/fd`);
    } catch (error) {
      if (isGone(error)) return false;
      throw error;
    }
    let described: ProcessInfo | null | undefined;
    // newest descriptors tend to have the highest numbers
    for (let i = fds.length - 1; i >= 0 && targets.size > 0; i--) {
      let link: string;
      try {
        link = readlinkSync(`${proc}/${pid}/fd/${fds[i]}`);
      } catch (error) {
        if (isGone(error)) continue;
        throw error;
      }
      if (!link.startsWith("socket:[")) continue;
      const inode = Number(link.slice(8, -1));
      const target = targets.get(inode);
      if (!target) continue;
      // a burst's sockets usually share one holder: describe it once
      if (described?.uid !== target.uid) described = describe(pid, target.uid);
      if (described) remember(pid);
      settle(inode, described);
    }
    return true;
  }

  /** Scans a process if its /proc dir belongs to an owner of a pending socket. */
  function visit(pid: number, uids: Set<number>, current: Scan): void {
    let owner: number;
    try {
      owner = statSync(`${proc}/${pid}`).uid;
    } catch (error) {
      if (isGone(error)) return;
      throw error;
    }
    if (uids.has(owner)) scanFds(pid);
    else if (owner === 0) current.rootOwned.push(pid);
  }

  /** Advances the scan until the slice ends; a finished scan settles null what it could not find. */
  function scanSlice(sliceEnd: number): void {
    if (!scan) {
      const pids = readdirSync(proc)
        .filter((n) => /^\d+$/.test(n))
        .map(Number);
      // newest first: a process that just started is the likeliest knocker
      scan = { pids: pids.sort((a, b) => b - a).slice(0, MAX_PIDS), next: 0, rootOwned: [], rootNext: 0 };
    }
    const current = scan;
    const uids = new Set([...targets.values()].map((t) => t.uid));
    // A process that is not dumpable (setuid, prctl PR_SET_DUMPABLE 0) shows /proc/<pid> as root's;
    // only root may read its descriptors, so the second round is for a service running as root.
    const rootRound = process.getuid?.() === 0 && [...uids].some((uid) => uid !== 0);
    do {
      if (current.next < current.pids.length) visit(current.pids[current.next++]!, uids, current);
      else if (rootRound && current.rootNext < current.rootOwned.length)
        scanFds(current.rootOwned[current.rootNext++]!);
      else {
        for (const [inode, target] of targets) {
          if (target.partial) target.partial = false;
          else settle(inode, null);
        }
        scan = null;
        return;
      }
    } while (targets.size > 0 && performance.now() < sliceEnd);
    if (targets.size === 0) scan = null;
  }

  function describe(pid: number, uid: number): ProcessInfo | null {
    let stat: string;
    try {
      stat = readProcFile(`${proc}/${pid}/stat`, 4096);
    } catch (error) {
      if (isGone(error)) return null;
      throw error;
    }
    // comm may hold spaces and parentheses: the fields that follow start after the LAST ')'
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const read = (file: string, fn: (path: string) => string): string => {
      try {
        return fn(`${proc}/${pid}/${file}`);
      } catch (error) {
        if (isGone(error)) return "";
        throw error;
      }
    };
    return {
      pid,
      ppid: Number.isInteger(ppid) ? ppid : 0,
      uid,
      user: userName(uid),
      exe: read("exe", readlinkSync),
      // only the newline goes: a process name may end in a space. UTF-8, as a terminal would show it
      // (so a bidi override in a name is seen, and escaped, as one)
      name: read("comm", (p) => readProcFile(p, 4096, "utf8")).replace(/\n$/, ""),
    };
  }

  function remember(pid: number): void {
    if (recentLimit === 0) return;
    const at = recent.indexOf(pid);
    if (at >= 0) recent.splice(at, 1);
    recent.unshift(pid);
    if (recent.length > recentLimit) recent.length = recentLimit;
  }

  function forget(pid: number): void {
    const at = recent.indexOf(pid);
    if (at >= 0) recent.splice(at, 1);
  }

  function tick(): void {
    scheduled = false;
    const sliceEnd = performance.now() + SLICE_MS;
    const fresh = incoming.splice(0, MAX_BATCH);
    try {
      if (fresh.length > 0) join(fresh);
    } catch (error) {
      for (const w of fresh) w.reject(error);
    }
    try {
      // the knocker of a new socket most likely knocked before: its pid is near the front of `recent`.
      // A knocker that exited leaves the list: a failed look costs ~50 us, and a run of short-lived
      // clients would otherwise make every new one pay for all of its predecessors first.
      if (fresh.length > 0)
        for (const pid of [...recent]) {
          if (targets.size === 0 || performance.now() > sliceEnd) break;
          if (!scanFds(pid)) forget(pid);
        }
      const now = performance.now();
      for (const [inode, target] of targets) if (target.expires < now) settle(inode, null);
      if (targets.size > 0) scanSlice(sliceEnd);
    } catch (error) {
      const failure = new AttributionError("Attributing knocks failed while reading /proc.", { cause: error });
      for (const target of targets.values()) for (const w of target.waiters) w.reject(failure);
      targets.clear();
      scan = null;
    }
    if (targets.size > 0 || incoming.length > 0) schedule();
  }

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(tick);
  }

  return {
    name: "linux-procfs",
    attribute(socket: KnockSocket): Promise<ProcessInfo | null> {
      // past this many unread knocks the service is flooded: answering null beats growing without bound
      if (incoming.length >= MAX_INCOMING) return Promise.resolve(null);
      return new Promise((resolve, reject) => {
        const peer = peerOf(socket);
        incoming.push({ key: rowKey(peer), peer, resolve, reject });
        schedule();
      });
    },
  };
}
