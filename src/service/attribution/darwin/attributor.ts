// macOS attribution: the knocking socket's owner from one `net.inet.tcp.pcblist_n` sysctl, else by walking libproc.
import { DarwinUnavailableError } from "../../../lib/errors.ts";
import { canonicalAddress } from "../address.ts";
import type { Attributor, KnockSocket, ProcessInfo } from "../types.ts";
import { decodePcbList, type PcbRow } from "./pcblist.ts";
import { libSystem, type LibSystem, processName } from "./libsystem.ts";
import { decodeSocketFdInfo, socketFds } from "./proc-info.ts";

/** Options of {@link darwinAttributor}. */
export interface DarwinAttributorOptions {
  /** The libSystem calls; default the real ones (tests pass recorded answers). */
  lib?: LibSystem;
  /** Pids tried first by the libproc walk, most recent first. Default 64. */
  recentLimit?: number;
}

/** The libproc walk looks at this many processes at most per knock. */
const MAX_WALK_PIDS = 8192;

/** The knocker's own view of the connection: its local end is our remote end. */
function peerOf(knock: KnockSocket) {
  return {
    localAddress: canonicalAddress(knock.remoteAddress),
    localPort: knock.remotePort,
    remoteAddress: canonicalAddress(knock.localAddress),
    remotePort: knock.localPort,
  };
}

type Ends = ReturnType<typeof peerOf>;
const same = (row: Ends, want: Ends) =>
  row.localPort === want.localPort &&
  row.remotePort === want.remotePort &&
  row.localAddress === want.localAddress &&
  row.remoteAddress === want.remoteAddress;

/** The row of the knocker's socket among the kernel's, or undefined. Exported for tests. */
export function findKnocker(rows: readonly PcbRow[], knock: KnockSocket): PcbRow | undefined {
  const want = peerOf(knock);
  return rows.find((row) => row.pid > 0 && same(row, want));
}

/**
 * The attributor for macOS. Every knock costs one sysctl (no root needed) that lists every TCP
 * socket with so_last_pid, the process that used it last: for a knocking client, the one holding it.
 * Where that sysctl fails (a layout this code does not know), it walks the processes' descriptors
 * with libproc, which sees only the same user's processes unless the service runs as root.
 */
export function darwinAttributor(options: DarwinAttributorOptions = {}): Attributor {
  const lib = options.lib ?? libSystem();
  if (!lib) throw new DarwinUnavailableError("cannot open /usr/lib/libSystem.B.dylib: macOS attribution needs it");
  const recentLimit = options.recentLimit ?? 64;
  const recent: number[] = [];

  function describe(pid: number, uid?: number): ProcessInfo | null {
    const info = lib!.bsdInfo(pid);
    const exe = lib!.exePath(pid);
    if (!info && !exe) return null; // gone already
    const owner = uid ?? info?.uid ?? 0;
    return {
      pid,
      ppid: info?.ppid ?? 0,
      uid: owner,
      user: lib!.userName(owner),
      exe: exe.slice(0, 4096),
      name: processName(exe, info),
    };
  }

  function remember(pid: number) {
    const at = recent.indexOf(pid);
    if (at >= 0) recent.splice(at, 1);
    recent.unshift(pid);
    if (recent.length > recentLimit) recent.pop();
  }

  /** The libproc walk: recent knockers first, then every process we may look into. */
  function walk(knock: KnockSocket): number {
    const want = peerOf(knock);
    const pids = [...recent, ...lib!.pids().filter((p) => !recent.includes(p))].slice(0, MAX_WALK_PIDS);
    for (const pid of pids) {
      const list = lib!.fdList(pid);
      if (!list) continue;
      for (const fd of socketFds(list.bytes, list.length)) {
        const info = lib!.socketInfo(pid, fd);
        const socket = info ? decodeSocketFdInfo(info) : null;
        if (socket && same(socket, want)) return pid;
      }
    }
    return 0;
  }

  // Knocks accepted in the same turn of the event loop share one sysctl: a code's knocks arrive together.
  let pending: Promise<Uint8Array | undefined> | undefined;
  const snapshot = () =>
    (pending ??= new Promise((resolve) =>
      setImmediate(() => {
        pending = undefined;
        resolve(lib.pcbList()?.slice()); // a copy: the next read reuses the buffer
      }),
    ));

  return {
    name: "darwin-pcblist",
    async attribute(knock) {
      const raw = await snapshot();
      let pid = 0;
      let uid: number | undefined;
      if (raw) {
        try {
          const row = findKnocker(
            decodePcbList(raw, { localPort: knock.remotePort, remotePort: knock.localPort }),
            knock,
          );
          if (row) [pid, uid] = [row.pid, row.uid];
        } catch {
          pid = walk(knock); // a layout this code cannot read: fall back to libproc
        }
      } else {
        pid = walk(knock);
      }
      if (!pid) return null;
      const found = describe(pid, uid);
      if (found) remember(pid);
      return found;
    },
  };
}
