// Byte buffers laid out as XNU's headers say, written field by field, for the darwin decoder tests.
// Offsets: offsetof() on the struct text of xnu-11417.101.15 and xnu-8020.140.41 (see src/service/attribution/darwin/pcblist.ts).
import { addressBytes } from "../../../../src/service/attribution/address.ts";

/** A little-endian struct writer over a zeroed buffer. */
class Struct {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
  u8(at: number, v: number) {
    this.view.setUint8(at, v);
    return this;
  }
  u16be(at: number, v: number) {
    this.view.setUint16(at, v, false);
    return this;
  }
  u32(at: number, v: number) {
    this.view.setUint32(at, v >>> 0, true);
    return this;
  }
  i32(at: number, v: number) {
    this.view.setInt32(at, v, true);
    return this;
  }
  u64(at: number, v: bigint) {
    this.view.setBigUint64(at, v, true);
    return this;
  }
  set(at: number, v: number[]) {
    this.bytes.set(v, at);
    return this;
  }
}

const pad8 = (n: number) => (n + 7) & ~7;

/** struct xinpgen: xig_len @0, xig_count @4, xig_gen @8, xig_sogen @16 (24 bytes). */
export function xinpgen(count: number): Uint8Array {
  return new Struct(24).u32(0, 24).u32(4, count).u64(8, 77n).u64(16, 78n).bytes;
}

export interface SocketSpec {
  /** 12: xsocket_n of 76 bytes (xnu-8020); 13: 104 bytes (xnu-8792 on). */
  macos: 12 | 13;
  local: string;
  localPort: number;
  remote: string;
  remotePort: number;
  uid: number;
  pid: number;
  ePid?: number;
  state?: number;
  /** inp_vflag; default from the address family. */
  vflag?: number;
  /** Write the xtcpcb_n part (TCP lists have it). Default true. */
  tcp?: boolean;
}

/** The 16 bytes of inp_dependfaddr/laddr: an IPv4 address sits in the last 4 (struct in_addr_4in6). */
function in6(address: string): number[] {
  const b = addressBytes(address)!;
  return b.length === 4 ? [...new Array<number>(12).fill(0), ...b] : b;
}

/** One get_pcblist_n record: xinpcb_n, xsocket_n, 2 x xsockbuf_n, xsockstat_n, xtcpcb_n, each padded to 8. */
export function pcbRecord(spec: SocketSpec): Uint8Array {
  const v4 = addressBytes(spec.local)!.length === 4;
  const inp = new Struct(104) // struct xinpcb_n
    .u32(0, 104)
    .u32(4, 0x10) // xi_len, xi_kind XSO_INPCB
    .u64(8, 0xabcdefn) // xi_inpp
    .u16be(16, spec.remotePort)
    .u16be(18, spec.localPort) // inp_fport, inp_lport
    .u8(44, spec.vflag ?? (v4 ? 0x1 : 0x2))
    .u8(45, 64)
    .u8(46, 6) // inp_vflag, inp_ip_ttl, inp_ip_p
    .set(48, in6(spec.remote))
    .set(64, in6(spec.local)); // inp_dependfaddr, inp_dependladdr
  const soLen = spec.macos === 12 ? 76 : 104;
  const so = new Struct(pad8(soLen)) // struct xsocket_n
    .u32(0, soLen)
    .u32(4, 0x1) // xso_len, xso_kind XSO_SOCKET
    .u64(8, 0x1234n)
    .u16be(16, 0)
    .u32(20, 0) // xso_so, so_type, so_options
    .i32(36, 6)
    .i32(40, v4 ? 2 : 30) // xso_protocol, xso_family (AF_INET6 is 30 on macOS)
    .u32(64, spec.uid)
    .i32(68, spec.pid)
    .i32(72, spec.ePid ?? spec.pid); // so_uid, so_last_pid, so_e_pid
  if (spec.macos === 13) so.u64(76, 99n).u32(84, 0).u32(88, 0).i32(92, 1).i32(96, 0).u32(100, 0); // so_gencnt .. xso_filter_flags
  const rcv = new Struct(32).u32(0, 32).u32(4, 0x2).u32(8, 0); // struct xsockbuf_n, XSO_RCVBUF
  const snd = new Struct(32).u32(0, 32).u32(4, 0x4); // XSO_SNDBUF
  const stat = new Struct(136).u32(0, 136).u32(4, 0x8); // struct xsockstat_n, XSO_STATS
  const parts = [inp.bytes, so.bytes, rcv.bytes, snd.bytes, stat.bytes];
  if (spec.tcp !== false)
    parts.push(
      new Struct(208)
        .u32(0, 204)
        .u32(4, 0x20)
        .i32(36, spec.state ?? 4).bytes,
    ); // struct xtcpcb_n: xt_len, xt_kind, t_state
  return concat(parts);
}

/** A whole sysctl answer: header, records, trailer. */
export function pcbList(specs: SocketSpec[]): Uint8Array {
  return concat([xinpgen(specs.length), ...specs.map(pcbRecord), xinpgen(specs.length)]);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** struct proc_bsdinfo (136 bytes): pbi_pid @12, pbi_ppid @16, pbi_uid @20, pbi_comm @48, pbi_name @64. */
export function bsdInfo(pid: number, ppid: number, uid: number, comm: string, name = ""): Uint8Array {
  const s = new Struct(136).u32(12, pid).u32(16, ppid).u32(20, uid).u32(24, 20);
  s.set(48, [...new TextEncoder().encode(comm.slice(0, 15))]);
  if (name) s.set(64, [...new TextEncoder().encode(name.slice(0, 31))]);
  return s.bytes;
}

/** PROC_PIDLISTFDS answer: struct proc_fdinfo { int32 proc_fd; uint32 proc_fdtype } per descriptor. */
export function fdList(entries: [fd: number, type: number][]): Uint8Array {
  const s = new Struct(8 * entries.length);
  entries.forEach(([fd, type], i) => s.i32(8 * i, fd).u32(8 * i + 4, type));
  return s.bytes;
}

/**
 * struct socket_fdinfo (792 bytes): proc_fileinfo (24), then socket_info: soi_family @184,
 * soi_kind @256; in_sockinfo @264: insi_fport @264, insi_lport @268 (ints whose low 16 bits hold the
 * network-order port), insi_vflag @288, insi_faddr @296, insi_laddr @312; tcpsi_state @344.
 */
export function socketFdInfo(spec: {
  kind: number;
  local: string;
  localPort: number;
  remote: string;
  remotePort: number;
  state?: number;
}): Uint8Array {
  const v4 = addressBytes(spec.local)!.length === 4;
  const s = new Struct(792).i32(24 + 160, v4 ? 2 : 30).i32(256, spec.kind);
  s.set(264, [spec.remotePort >> 8, spec.remotePort & 255, 0, 0]).set(268, [
    spec.localPort >> 8,
    spec.localPort & 255,
    0,
    0,
  ]);
  s.u8(288, v4 ? 1 : 2)
    .set(296, in6(spec.remote))
    .set(312, in6(spec.local))
    .i32(344, spec.state ?? 4);
  return s.bytes;
}
