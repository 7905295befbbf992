// The few libSystem calls macOS attribution needs, through bun:ffi: no lsof, no child process.
import { CString, dlopen, FFIType, type Pointer, ptr, read } from "bun:ffi";
import { basename } from "node:path";
import {
  decodeBsdInfo,
  PROC_ALL_PIDS,
  PROC_BSDINFO_BYTES,
  PROC_FDINFO_BYTES,
  PROC_PIDFDSOCKETINFO,
  PROC_PIDLISTFDS,
  PROC_PIDTBSDINFO,
  SOCKET_FDINFO_BYTES,
  type BsdInfo,
} from "./proc-info.ts";

const LIBSYSTEM = "/usr/lib/libSystem.B.dylib";
const ENOMEM = 12;
const ERANGE = 34;
/** PROC_PIDPATHINFO_MAXSIZE (4 * MAXPATHLEN), bsd/sys/proc_info.h. */
const PATH_MAX_BYTES = 4096;
/** The pcblist buffer never grows past this: a bound on memory whatever the kernel reports. */
const MAX_PCBLIST_BYTES = 64 << 20;
const MAX_PIDS = 1 << 16;
const MAX_FDS = 1 << 16;

const nul = (text: string) => Buffer.from(`${text}\0`);

/** The calls, opened once per process on first use. */
export interface LibSystem {
  /** The raw `net.inet.tcp.pcblist_n` buffer, or undefined when the sysctl fails. */
  pcbList(): Uint8Array | undefined;
  bsdInfo(pid: number): BsdInfo | null;
  /** The executable's absolute path; "" when the process is gone or off-limits. */
  exePath(pid: number): string;
  userName(uid: number): string;
  /** Every pid (bounded), for the libproc walk. */
  pids(): number[];
  /** The raw PROC_PIDLISTFDS answer and its length in bytes. */
  fdList(pid: number): { bytes: Uint8Array; length: number } | undefined;
  /** The raw socket_fdinfo of one descriptor, or undefined. */
  socketInfo(pid: number, fd: number): Uint8Array | undefined;
  /** The process macOS holds responsible for `pid` (the app behind an XPC service); 0 when unknown. */
  responsiblePid(pid: number): number;
}

let shared: LibSystem | null | undefined;

/** libSystem's calls, or null off macOS or when the library cannot be opened. */
export function libSystem(): LibSystem | null {
  if (shared !== undefined) return shared;
  shared = process.platform === "darwin" ? open() : null;
  return shared;
}

function open(): LibSystem | null {
  let lib;
  try {
    lib = dlopen(LIBSYSTEM, {
      sysctlbyname: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
      proc_listpids: { args: [FFIType.u32, FFIType.u32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
      proc_pidinfo: { args: [FFIType.i32, FFIType.i32, FFIType.u64, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
      proc_pidfdinfo: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
      proc_pidpath: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
      getpwuid_r: { args: [FFIType.u32, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
      __error: { args: [], returns: FFIType.ptr },
    });
  } catch {
    return null;
  }
  // Private but exported by libSystem (libquarantine) since macOS 10.14; optional: identity falls back to the parent chain.
  let responsible: ((pid: number) => number) | undefined;
  try {
    const r = dlopen(LIBSYSTEM, {
      responsibility_get_pid_responsible_for_pid: { args: [FFIType.i32], returns: FFIType.i32 },
    });
    responsible = (pid) => r.symbols.responsibility_get_pid_responsible_for_pid(pid);
  } catch {
    responsible = undefined;
  }
  const s = lib.symbols;
  const errno = () => {
    const at = s.__error();
    return at ? read.i32(at, 0) : 0;
  };
  const sysctlName = nul("net.inet.tcp.pcblist_n");
  let pcb = new Uint8Array(256 << 10);
  const size = new BigUint64Array(1);
  const bsd = new Uint8Array(PROC_BSDINFO_BYTES);
  const path = new Uint8Array(PATH_MAX_BYTES);
  const sock = new Uint8Array(SOCKET_FDINFO_BYTES);
  const users = new Map<number, string>();

  return {
    pcbList() {
      for (let attempt = 0; attempt < 4; attempt++) {
        size[0] = BigInt(pcb.byteLength);
        if (s.sysctlbyname(ptr(sysctlName), ptr(pcb), ptr(size), null, 0) === 0)
          return pcb.subarray(0, Number(size[0]));
        if (errno() !== ENOMEM) return undefined;
        // More sockets than room: ask the size (the kernel adds slack) and grow.
        size[0] = 0n;
        if (s.sysctlbyname(ptr(sysctlName), null, ptr(size), null, 0) !== 0) return undefined;
        const want = Math.min(
          MAX_PCBLIST_BYTES,
          Math.max(pcb.byteLength * 2, Number(size[0]) + (Number(size[0]) >> 2)),
        );
        if (want <= pcb.byteLength) return undefined;
        pcb = new Uint8Array(want);
      }
      return undefined;
    },
    bsdInfo(pid) {
      const n = s.proc_pidinfo(pid, PROC_PIDTBSDINFO, 0, ptr(bsd), bsd.byteLength);
      return n === bsd.byteLength ? decodeBsdInfo(bsd) : null;
    },
    exePath(pid) {
      const n = s.proc_pidpath(pid, ptr(path), path.byteLength);
      return n > 0 ? new TextDecoder().decode(path.subarray(0, Math.min(n, path.byteLength))) : "";
    },
    userName(uid) {
      const known = users.get(uid);
      if (known !== undefined) return known;
      // struct passwd is 72 bytes on LP64 macOS; pw_name (char *) is its first field.
      const pwd = new Uint8Array(128);
      const result = new BigUint64Array(1);
      let name = "";
      for (let bytes = 1024; bytes <= 1 << 16; bytes *= 4) {
        const scratch = new Uint8Array(bytes);
        const rc = s.getpwuid_r(uid, ptr(pwd), ptr(scratch), bytes, ptr(result));
        if (rc === ERANGE) continue;
        if (rc === 0 && result[0] !== 0n) {
          const at = read.ptr(ptr(pwd), 0);
          name = at ? new CString(at as Pointer).toString().slice(0, 256) : "";
        }
        break;
      }
      if (users.size < 4096) users.set(uid, name || String(uid));
      return name || String(uid);
    },
    pids() {
      const count = s.proc_listpids(PROC_ALL_PIDS, 0, null, 0);
      if (count <= 0) return [];
      const buf = new Int32Array(Math.min(MAX_PIDS, Math.ceil(count / 4) + 64));
      const n = s.proc_listpids(PROC_ALL_PIDS, 0, ptr(buf), buf.byteLength);
      return n > 0 ? Array.from(buf.subarray(0, n / 4)).filter((p) => p > 0) : [];
    },
    fdList(pid) {
      const need = s.proc_pidinfo(pid, PROC_PIDLISTFDS, 0, null, 0);
      if (need <= 0) return undefined;
      const bytes = new Uint8Array(Math.min(MAX_FDS * PROC_FDINFO_BYTES, need + 32 * PROC_FDINFO_BYTES));
      const length = s.proc_pidinfo(pid, PROC_PIDLISTFDS, 0, ptr(bytes), bytes.byteLength);
      return length > 0 ? { bytes, length } : undefined;
    },
    socketInfo(pid, fd) {
      const n = s.proc_pidfdinfo(pid, fd, PROC_PIDFDSOCKETINFO, ptr(sock), sock.byteLength);
      return n === sock.byteLength ? sock : undefined;
    },
    responsiblePid(pid) {
      if (!responsible) return 0;
      const r = responsible(pid);
      return r > 0 ? r : 0;
    },
  };
}

/** The name a process goes by: its executable's file name, else the kernel's name for it. */
export function processName(exe: string, info: BsdInfo | null): string {
  return (exe ? basename(exe) : (info?.name ?? "")).slice(0, 256);
}
