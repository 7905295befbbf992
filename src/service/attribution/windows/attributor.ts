// Windows attribution: the knocking socket's row in GetExtendedTcpTable names its owner's PID; Win32 calls name the process.
import { AttributionError } from "../../../lib/errors.ts";
import { addressBytes, canonicalAddress } from "../address.ts";
import type { Attributor, KnockSocket, ProcessInfo } from "../types.ts";
import { parseTcpOwnerTable, type TcpOwnerRow } from "./decoders.ts";
import * as win32 from "./win32.ts";

/** The Win32 calls this attributor makes; tests may pass their own. Default: the real ones (bun:ffi). */
export type Win32 = Pick<
  typeof win32,
  "readTcpTable" | "openProcess" | "closeHandle" | "imagePath" | "creationTime" | "processUser" | "processEntries"
>;

/** Options of {@link windowsAttributor}. */
export interface WindowsAttributorOptions {
  win32?: Win32;
}

/** Knocks looked up in one table read; the rest wait for the next turn of the event loop. */
const MAX_BATCH = 1024;
const MAX_INCOMING = 8192;
/** Processes whose description is kept (a browser knocks from one process: the first knock pays, the rest hit). */
const MAX_DESCRIBED = 256;
/**
 * Table reads a knock is looked for in before it settles as unattributed. The socket is held open meanwhile,
 * so its row should be in the first; under Wine on a busy machine two reads in a row have missed every row
 * of a client (the e2e test saw it), so a missing row gets three more chances. Knocks share each read.
 */
const MAX_READS = 4;

interface Waiter {
  key: string;
  family: 4 | 6;
  /** The knocking socket's local port: the only rows worth decoding have it. */
  peerPort: number;
  /** Table reads it was looked for in and not found. */
  misses: number;
  resolve(info: ProcessInfo | null): void;
  reject(error: unknown): void;
}

/** The knocking socket as its owner sees it (our remote end is its local end), as a row key. */
const rowKey = (localAddress: string, localPort: number, remoteAddress: string, remotePort: number) =>
  `${localAddress} ${localPort} ${remoteAddress} ${remotePort}`;

/** The executable's file name from a Win32 path. */
export const fileName = (path: string) => path.slice(path.lastIndexOf("\\") + 1);

/**
 * Attribution through the IP Helper API. Knocks that arrive together (before the next setImmediate)
 * share one read of the owner-PID TCP table of their family (IPv4 or IPv6); each matching row gives the
 * knocker's PID (a knock without one is looked for in one more read, then settles null), which is then named: image path, user (token SID and account), parent PID (Toolhelp).
 * A process's description is kept, keyed by PID and checked against its creation time, so a browser's
 * later knocks cost one table read and one OpenProcess.
 */
export function windowsAttributor(options: WindowsAttributorOptions = {}): Attributor {
  const api: Win32 = options.win32 ?? win32;
  const incoming: Waiter[] = [];
  const described = new Map<number, { created: bigint; info: ProcessInfo }>();
  let parents: Map<number, number> | undefined;
  let scheduled = false;

  function parentOf(pid: number, fresh: { taken: boolean }): number {
    if (!parents?.has(pid) && !fresh.taken) {
      fresh.taken = true; // at most one snapshot a batch
      parents = new Map(api.processEntries().map((e) => [e.pid, e.ppid]));
    }
    return parents?.get(pid) ?? 0;
  }

  function describe(pid: number, fresh: { taken: boolean }): ProcessInfo {
    const handle = api.openProcess(pid);
    // Closed to us (another user's process, a protected one) or gone: the PID is all we know.
    if (handle === null) return { pid, ppid: parentOf(pid, fresh), uid: 0, user: "", exe: "", name: "" };
    try {
      const created = api.creationTime(handle);
      const known = described.get(pid);
      if (known && known.created === created && created !== 0n) return known.info;
      const exe = api.imagePath(handle);
      const account = api.processUser(handle);
      const info: ProcessInfo = {
        pid,
        ppid: parentOf(pid, fresh),
        // Windows has no numeric uid: the account's RID (last part of its SID) stands in for it
        uid: account?.rid ?? 0,
        user: account?.user ?? "",
        exe,
        name: fileName(exe),
      };
      if (described.size >= MAX_DESCRIBED) described.delete(described.keys().next().value!);
      described.delete(pid);
      described.set(pid, { created, info });
      return info;
    } finally {
      api.closeHandle(handle);
    }
  }

  function tick(): void {
    scheduled = false;
    const batch = incoming.splice(0, MAX_BATCH);
    try {
      const wanted = new Map<string, Waiter[]>();
      for (const w of batch) wanted.set(w.key, [...(wanted.get(w.key) ?? []), w]);
      const found = new Map<string, TcpOwnerRow>();
      for (const family of [4, 6] as const) {
        const knockers = batch.filter((w) => w.family === family);
        if (knockers.length === 0) continue;
        const table = api.readTcpTable(family);
        for (const row of parseTcpOwnerTable(table, family, table.length, new Set(knockers.map((w) => w.peerPort)))) {
          const key = rowKey(row.localAddress, row.localPort, row.remoteAddress, row.remotePort);
          // PID 0 is the System Idle process: a row no process owns any more (or, under Wine, one wineserver holds)
          if (row.pid !== 0 && wanted.has(key)) found.set(key, row);
        }
      }
      const fresh = { taken: false };
      for (const [key, waiters] of wanted) {
        const row = found.get(key);
        if (!row) {
          // Looked for again in the next read before giving up: the socket is still held open, and a
          // table that was changing while it was read can miss a row (Wine builds it from /proc/net/tcp,
          // read in pieces; seen on a busy machine). A peer that really closed costs MAX_READS reads.
          for (const w of waiters) {
            if (w.misses + 1 >= MAX_READS) w.resolve(null);
            else incoming.push({ ...w, misses: w.misses + 1 });
          }
          continue;
        }
        const info = describe(row.pid, fresh);
        for (const w of waiters) w.resolve(info);
      }
    } catch (error) {
      const failure = new AttributionError(`Attributing knocks failed in a Win32 call: ${(error as Error).message}`, {
        cause: error,
      });
      for (const w of batch) w.reject(failure);
    }
    if (incoming.length > 0) schedule();
  }

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(tick);
  }

  return {
    name: "windows-iphlpapi",
    attribute(socket: KnockSocket): Promise<ProcessInfo | null> {
      // past this many unread knocks the service is flooded: answering null beats growing without bound
      if (incoming.length >= MAX_INCOMING) return Promise.resolve(null);
      const peerAddress = canonicalAddress(socket.remoteAddress);
      const family = addressBytes(socket.remoteAddress)?.length === 16 ? 6 : 4;
      return new Promise((resolve, reject) => {
        incoming.push({
          key: rowKey(peerAddress, socket.remotePort, canonicalAddress(socket.localAddress), socket.localPort),
          family,
          peerPort: socket.remotePort,
          misses: 0,
          resolve,
          reject,
        });
        schedule();
      });
    },
  };
}
