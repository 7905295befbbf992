// Decodes the `net.inet.tcp.pcblist_n` sysctl: every TCP socket with its owner's uid and last pid (XNU's private ABI).
//
// Layout (XNU bsd/netinet/in_pcblist.c get_pcblist_n; every struct under #pragma pack(4), every item
// padded to 8 bytes by ROUNDUP64). Offsets computed with offsetof on the verbatim struct text of
// xnu-11417.101.15 (macOS 15) and xnu-8020.140.41 (macOS 12):
//   struct xinpgen (bsd/netinet/in_pcb.h), 24 bytes: xig_len @0, xig_count @4; it opens and closes the buffer.
//   then one record per socket, each item starting with u32 length, u32 kind:
//   struct xinpcb_n (bsd/netinet/in_pcb.h), 104 bytes, kind XSO_INPCB 0x10:
//     inp_fport @16, inp_lport @18 (u16, network order), inp_vflag @44 (INP_IPV4 1, INP_IPV6 2),
//     inp_dependfaddr @48 (16 bytes; IPv4 in its last 4, @60), inp_dependladdr @64 (IPv4 @76)
//   struct xsocket_n (bsd/sys/socketvar.h), kind XSO_SOCKET 0x1: 76 bytes up to macOS 12 (ends at
//     so_e_pid), 104 from macOS 13 (xnu-8792: so_gencnt, so_flags, ... appended); either way
//     so_uid @64, so_last_pid @68, so_e_pid @72
//   2 x struct xsockbuf_n (32 bytes; kind 0 when the socket has none), struct xsockstat_n (136 bytes, kind XSO_STATS 0x8)
//   struct xtcpcb_n (bsd/netinet/tcp_var.h), 204 bytes padded to 208, kind XSO_TCPCB 0x20: t_state @36
//   Record sizes: 104+80+64+136+208 = 592 up to macOS 12, 104+104+64+136+208 = 616 from macOS 13
//   (384 and 408 without the TCP part). Lengths are read from the buffer, so both decode alike.
import { PcbListError } from "../../../lib/errors.ts";
import { formatAddress } from "../address.ts";

/** One TCP socket as the kernel lists it, addresses in canonical text. */
export interface PcbRow {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** TCPS_* (bsd/netinet/tcp_fsm.h): 4 is ESTABLISHED. */
  state: number;
  uid: number;
  /** The process that last used the socket (so_last_pid), which is the one that holds it for a knocking client. */
  pid: number;
  /** The process the socket acts for when another made it (so_e_pid, delegated sockets); 0 if none. */
  effectivePid: number;
}

export const XSO_SOCKET = 0x1;
export const XSO_STATS = 0x8;
export const XSO_INPCB = 0x10;
export const XSO_TCPCB = 0x20;
export const INP_IPV4 = 0x1;
export const INP_IPV6 = 0x2;
export const XINPGEN_BYTES = 24;
export const XINPCB_N_BYTES = 104;
export const XSOCKET_N_MIN_BYTES = 76;
export const XSOCKBUF_N_BYTES = 32;
export const XSOCKSTAT_N_BYTES = 136;
export const XTCPCB_N_MIN_BYTES = 40;
/** Records decoded at most: a bound on the work per lookup (the kernel has no fixed limit). */
export const MAX_ROWS = 1 << 17;

const roundUp8 = (n: number) => (n + 7) & ~7;

/**
 * The sizes of one record's items, read from the first record: the kernel writes every record
 * with the same item_size, so the first one tells the layout of this macOS.
 */
function recordLayout(view: DataView, at: number) {
  const need = (offset: number, bytes: number, what: string) => {
    if (offset + bytes > view.byteLength)
      throw new PcbListError(`pcblist_n ends inside the first record's ${what} (${view.byteLength} bytes)`);
  };
  need(at, 8, "xinpcb_n");
  const inpLen = view.getUint32(at, true);
  const inpKind = view.getUint32(at + 4, true);
  if (inpKind !== XSO_INPCB || inpLen < XINPCB_N_BYTES)
    throw new PcbListError(`pcblist_n record starts with kind ${inpKind}, length ${inpLen}: not an xinpcb_n`);
  const so = at + roundUp8(inpLen);
  need(so, 8, "xsocket_n");
  const soLen = view.getUint32(so, true);
  if (view.getUint32(so + 4, true) !== XSO_SOCKET || soLen < XSOCKET_N_MIN_BYTES)
    throw new PcbListError(`pcblist_n xsocket_n has length ${soLen}: unknown layout`);
  let next = so + roundUp8(soLen);
  for (const what of ["receive xsockbuf_n", "send xsockbuf_n"]) {
    need(next, 8, what);
    const len = view.getUint32(next, true);
    if (len < 8) throw new PcbListError(`pcblist_n ${what} has length ${len}`);
    next += roundUp8(len);
  }
  need(next, 8, "xsockstat_n");
  const statLen = view.getUint32(next, true);
  if (view.getUint32(next + 4, true) !== XSO_STATS || statLen < 8)
    throw new PcbListError(`pcblist_n xsockstat_n has length ${statLen}, kind ${view.getUint32(next + 4, true)}`);
  next += roundUp8(statLen);
  let tcp = -1;
  if (next + 8 <= view.byteLength && view.getUint32(next + 4, true) === XSO_TCPCB) {
    const tcpLen = view.getUint32(next, true);
    if (tcpLen < XTCPCB_N_MIN_BYTES) throw new PcbListError(`pcblist_n xtcpcb_n has length ${tcpLen}`);
    tcp = next - at;
    next += roundUp8(tcpLen);
  }
  return { socket: so - at, tcp, size: next - at };
}

function addressAt(bytes: Uint8Array, offset: number, v6: boolean): string {
  const raw = Array.from(bytes.subarray(offset, offset + 16));
  return formatAddress(v6 ? raw : raw.slice(12));
}

/**
 * Every socket in a `net.inet.tcp.pcblist_n` buffer (or only those with these ports: addresses are
 * then formatted for a handful of rows, not thousands). An empty list (header and trailer only)
 * gives no rows; a buffer that is cut short or holds an unknown layout throws PcbListError.
 */
export function decodePcbList(buffer: Uint8Array, only?: { localPort: number; remotePort: number }): PcbRow[] {
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  if (buffer.byteLength < XINPGEN_BYTES)
    throw new PcbListError(`pcblist_n is ${buffer.byteLength} bytes, shorter than its ${XINPGEN_BYTES}-byte header`);
  const headerLen = view.getUint32(0, true);
  if (headerLen < XINPGEN_BYTES || headerLen > 64)
    throw new PcbListError(`pcblist_n header gives its length as ${headerLen}, not ${XINPGEN_BYTES}`);
  const start = roundUp8(headerLen);
  // Header and trailer alone: no socket at all.
  const empty = buffer.byteLength - start;
  if (empty === headerLen && view.getUint32(start, true) === headerLen) return [];
  const layout = recordLayout(view, start);
  const rows: PcbRow[] = [];
  let at = start;
  // The trailer (a second xinpgen) is shorter than any record: stop when no whole record remains.
  let records = 0;
  for (; at + layout.size <= buffer.byteLength && records < MAX_ROWS; records++) {
    if (view.getUint32(at + 4, true) !== XSO_INPCB)
      throw new PcbListError(`pcblist_n record at byte ${at} has kind ${view.getUint32(at + 4, true)}, not xinpcb_n`);
    const vflag = view.getUint8(at + 44);
    const wanted =
      !only ||
      (view.getUint16(at + 18, false) === only.localPort && view.getUint16(at + 16, false) === only.remotePort);
    if (wanted && vflag & (INP_IPV4 | INP_IPV6)) {
      const v6 = (vflag & INP_IPV6) !== 0 && (vflag & INP_IPV4) === 0;
      const so = at + layout.socket;
      rows.push({
        remotePort: view.getUint16(at + 16, false),
        localPort: view.getUint16(at + 18, false),
        remoteAddress: addressAt(buffer, at + 48, v6),
        localAddress: addressAt(buffer, at + 64, v6),
        state: layout.tcp >= 0 ? view.getInt32(at + layout.tcp + 36, true) : -1,
        uid: view.getUint32(so + 64, true),
        pid: view.getInt32(so + 68, true),
        effectivePid: view.getInt32(so + 72, true),
      });
    }
    at += layout.size;
  }
  // The kernel always closes the list with a second xinpgen: without it the buffer was cut short.
  const rest = buffer.byteLength - at;
  if (records < MAX_ROWS && !(rest === headerLen && view.getUint32(at, true) === headerLen)) {
    throw new PcbListError(
      `pcblist_n ends with ${rest} bytes that are not its ${headerLen}-byte trailer: the list was cut short`,
    );
  }
  return rows;
}
