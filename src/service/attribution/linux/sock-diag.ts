// One TCP socket's owner uid and inode from the kernel by its exact address pair (netlink sock_diag),
// a hash lookup where reading /proc/net/tcp walks the kernel's whole table (about 1 ms on any machine).
import { dlopen, FFIType, ptr } from "bun:ffi";
import { endianness } from "node:os";
import { addressBytes } from "../address.ts";

/** What the kernel holds for one socket. inode 0: closing, no process holds it any more. */
export interface SocketOwner {
  uid: number;
  inode: number;
}

/** A socket, from its own side: its local end and the end it is connected to (address text). */
export interface SocketEnds {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

export interface SockDiag {
  /** The owner of a socket; null when the kernel has no such socket; undefined when the query itself failed. */
  find(socket: SocketEnds): SocketOwner | null | undefined;
  close(): void;
}

const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_SOCK_DIAG = 4;
const SOCK_DIAG_BY_FAMILY = 20;
const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 1;
const MSG_DONTWAIT = 0x40;
const IPPROTO_TCP = 6;
const ENOENT = 2;
/** nlmsghdr (16) + inet_diag_req_v2 (56). */
const REQUEST_BYTES = 72;
/** Replies read before giving up on finding ours (stale ones from an earlier failed query are skipped). */
const MAX_READS = 8;
const LITTLE = endianness() === "LE";

const LIBC_NAMES = ["libc.so.6", "libc.so"];

function openLibc() {
  for (const name of LIBC_NAMES) {
    try {
      return dlopen(name, {
        socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
        send: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
        recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
        close: { args: [FFIType.i32], returns: FFIType.i32 },
      });
    } catch {
      // not this name (musl, another libc): try the next, else fall back to procfs
    }
  }
  return undefined;
}

/** ::ffff:a.b.c.d, the IPv6 spelling of an IPv4 address. */
const mapped = (v4: number[]) => [...new Array<number>(10).fill(0), 255, 255, ...v4];

/**
 * Opens a sock_diag netlink socket; undefined where that cannot be done (no libc to call, no netlink),
 * and the caller reads /proc/net/tcp instead.
 */
export function openSockDiag(): SockDiag | undefined {
  if (process.platform !== "linux") return undefined;
  const libc = openLibc();
  if (!libc) return undefined;
  const { send, recv } = libc.symbols;
  const fd = libc.symbols.socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) {
    libc.close();
    return undefined;
  }
  const request = new Uint8Array(REQUEST_BYTES);
  const req = new DataView(request.buffer);
  const reply = new Uint8Array(4096);
  const rep = new DataView(reply.buffer);
  let seq = 0;
  let closed = false;

  /** One exact lookup: the owner, null (no such socket) or undefined (the query failed). */
  function query(
    local: number[],
    localPort: number,
    remote: number[],
    remotePort: number,
  ): SocketOwner | null | undefined {
    seq = (seq + 1) >>> 0;
    request.fill(0);
    req.setUint32(0, REQUEST_BYTES, LITTLE);
    req.setUint16(4, SOCK_DIAG_BY_FAMILY, LITTLE);
    req.setUint16(6, NLM_F_REQUEST, LITTLE);
    req.setUint32(8, seq, LITTLE);
    // inet_diag_req_v2: family, protocol, ext, pad, states; then inet_diag_sockid
    req.setUint8(16, local.length === 4 ? AF_INET : AF_INET6);
    req.setUint8(17, IPPROTO_TCP);
    req.setUint32(20, 0xffffffff, LITTLE); // every state
    req.setUint16(24, localPort, false); // ports and addresses in network order
    req.setUint16(26, remotePort, false);
    request.set(local, 28);
    request.set(remote, 44);
    req.setUint32(64, 0xffffffff, LITTLE); // INET_DIAG_NOCOOKIE
    req.setUint32(68, 0xffffffff, LITTLE);
    if (Number(send(fd, ptr(request), REQUEST_BYTES, 0)) !== REQUEST_BYTES) return undefined;
    // The kernel answers while handling send, so the reply is already queued: never block on it.
    for (let reads = 0; reads < MAX_READS; reads++) {
      const n = Number(recv(fd, ptr(reply), reply.length, MSG_DONTWAIT));
      if (n < 16) return undefined;
      if (rep.getUint32(8, LITTLE) !== seq) continue; // a late reply to an earlier query
      const type = rep.getUint16(4, LITTLE);
      if (type === NLMSG_ERROR) return -rep.getInt32(16, LITTLE) === ENOENT ? null : undefined;
      if (type !== SOCK_DIAG_BY_FAMILY || n < 16 + 72) return undefined;
      // inet_diag_msg: family, state, timer, retrans, sockid (48), expires, rqueue, wqueue, uid, inode
      return { uid: rep.getUint32(16 + 64, LITTLE), inode: rep.getUint32(16 + 68, LITTLE) };
    }
    return undefined;
  }

  return {
    find(socket) {
      if (closed) return undefined;
      const local = addressBytes(socket.localAddress);
      const remote = addressBytes(socket.remoteAddress);
      if (!local || !remote || local.length !== remote.length) return undefined;
      const found = query(local, socket.localPort, remote, socket.remotePort);
      // An IPv4 pair may also belong to an IPv6 socket that connected to ::ffff:127.0.0.1.
      if (found !== null || local.length !== 4) return found;
      return query(mapped(local), socket.localPort, mapped(remote), socket.remotePort);
    },
    close() {
      if (closed) return;
      closed = true;
      libc.symbols.close(fd);
      libc.close();
    },
  };
}
