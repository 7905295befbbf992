// Decodes what libproc's proc_pidinfo / proc_pidfdinfo write: a process's BSD info, its descriptor list, one socket's addresses.
//
// Offsets from XNU bsd/sys/proc_info.h (xnu-11417.101.15), computed with offsetof on the verbatim struct text:
//   struct proc_bsdinfo, 136 bytes (PROC_PIDTBSDINFO 3): pbi_pid @12, pbi_ppid @16, pbi_uid @20,
//     pbi_comm[16] @48, pbi_name[32] @64
//   struct proc_fdinfo, 8 bytes (PROC_PIDLISTFDS 1): proc_fd @0, proc_fdtype @4 (PROX_FDTYPE_SOCKET 2)
//   struct socket_fdinfo, 792 bytes (PROC_PIDFDSOCKETINFO 3): proc_fileinfo (24) then socket_info @24:
//     soi_family @184, soi_kind @256 (SOCKINFO_IN 1, SOCKINFO_TCP 2), soi_proto @264 holds in_sockinfo:
//     insi_fport @264, insi_lport @268 (ints holding a network-order u16), insi_vflag @288 (INI_IPV4 1, INI_IPV6 2),
//     insi_faddr @296 (16 bytes, IPv4 @308), insi_laddr @312 (IPv4 @324); tcp_sockinfo.tcpsi_state @344 (ESTABLISHED 4)
import { formatAddress } from "../address.ts";

export const PROC_ALL_PIDS = 1;
export const PROC_PIDLISTFDS = 1;
export const PROC_PIDTBSDINFO = 3;
export const PROC_PIDFDSOCKETINFO = 3;
export const PROX_FDTYPE_SOCKET = 2;
export const PROC_BSDINFO_BYTES = 136;
export const PROC_FDINFO_BYTES = 8;
export const SOCKET_FDINFO_BYTES = 792;
export const SOCKINFO_IN = 1;
export const SOCKINFO_TCP = 2;
export const MAXCOMLEN = 16;

/** What proc_pidinfo(PROC_PIDTBSDINFO) tells about a process. */
export interface BsdInfo {
  pid: number;
  ppid: number;
  uid: number;
  /** The executable's name cut to 16 bytes (pbi_comm), or the longer pbi_name when one is set. */
  name: string;
}

/** A TCP or UDP socket as proc_pidfdinfo(PROC_PIDFDSOCKETINFO) describes it. */
export interface FdSocket {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** TSI_S_* for TCP (4 is ESTABLISHED); -1 for a socket that is not TCP. */
  state: number;
}

function cString(bytes: Uint8Array, offset: number, max: number): string {
  const field = bytes.subarray(offset, offset + max);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end < 0 ? field : field.subarray(0, end));
}

const viewOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** A proc_bsdinfo; null when fewer bytes than the struct were written (the process exited, or no permission). */
export function decodeBsdInfo(bytes: Uint8Array): BsdInfo | null {
  if (bytes.byteLength < PROC_BSDINFO_BYTES) return null;
  const view = viewOf(bytes);
  const longName = cString(bytes, 64, 2 * MAXCOMLEN);
  return {
    pid: view.getUint32(12, true),
    ppid: view.getUint32(16, true),
    uid: view.getUint32(20, true),
    name: longName || cString(bytes, 48, MAXCOMLEN),
  };
}

/** The socket descriptors in a PROC_PIDLISTFDS answer of `length` bytes (whole entries only). */
export function socketFds(bytes: Uint8Array, length = bytes.byteLength): number[] {
  const view = viewOf(bytes);
  const fds: number[] = [];
  const end = Math.min(length, bytes.byteLength);
  for (let at = 0; at + PROC_FDINFO_BYTES <= end; at += PROC_FDINFO_BYTES) {
    if (view.getUint32(at + 4, true) === PROX_FDTYPE_SOCKET) fds.push(view.getInt32(at, true));
  }
  return fds;
}

/** An internet socket's ends from a socket_fdinfo; null for a short buffer or any other kind of socket. */
export function decodeSocketFdInfo(bytes: Uint8Array): FdSocket | null {
  if (bytes.byteLength < SOCKET_FDINFO_BYTES) return null;
  const view = viewOf(bytes);
  const kind = view.getInt32(256, true);
  if (kind !== SOCKINFO_IN && kind !== SOCKINFO_TCP) return null;
  const vflag = view.getUint8(288);
  if (!(vflag & 3)) return null;
  const v6 = (vflag & 2) !== 0 && (vflag & 1) === 0;
  const address = (offset: number) => {
    const raw = Array.from(bytes.subarray(offset, offset + 16));
    return formatAddress(v6 ? raw : raw.slice(12));
  };
  // The ports are little-endian ints whose low 16 bits hold the kernel's network-order u16: its two
  // bytes are the int's first two, most significant first.
  const port = (offset: number) => view.getUint16(offset, false);
  return {
    remotePort: port(264),
    localPort: port(268),
    remoteAddress: address(296),
    localAddress: address(312),
    state: kind === SOCKINFO_TCP ? view.getInt32(344, true) : -1,
  };
}
