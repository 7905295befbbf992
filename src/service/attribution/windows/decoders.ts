// Pure decoders of the Windows structures attribution reads (TCP owner tables, SIDs, process entries, version info), laid out as the SDK headers say.
import { formatAddress } from "../address.ts";

/** One row of an owner-PID TCP table, addresses in canonical text (see address.ts). */
export interface TcpOwnerRow {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** MIB_TCP_STATE: 5 is ESTABLISHED. */
  state: number;
  pid: number;
}

/** tcpmib.h MIB_TCPROW_OWNER_PID: dwState, dwLocalAddr, dwLocalPort, dwRemoteAddr, dwRemotePort, dwOwningPid (6 DWORDs). */
export const TCP4_ROW_SIZE = 24;
/**
 * tcpmib.h MIB_TCP6ROW_OWNER_PID: ucLocalAddr[16], dwLocalScopeId, dwLocalPort, ucRemoteAddr[16],
 * dwRemoteScopeId, dwRemotePort, dwState, dwOwningPid.
 */
export const TCP6_ROW_SIZE = 56;
/** MIB_TCPTABLE_OWNER_PID / MIB_TCP6TABLE_OWNER_PID: a DWORD dwNumEntries, then the rows (DWORD-aligned, so at 4). */
const TABLE_HEADER = 4;

/** A port DWORD as tcpmib.h stores it: network byte order in the low 16 bits, so its first two bytes in memory (little-endian). */
const portAt = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
const dword = (view: DataView, at: number) => view.getUint32(at, true);

/**
 * Decodes what GetExtendedTcpTable(..., AF_INET or AF_INET6, TCP_TABLE_OWNER_PID_ALL, ...) wrote into
 * `bytes` (`used` bytes of it). Rows beyond the buffer are ignored: a table that grew between the size
 * query and the read is cut, never over-read. With `localPorts`, only rows whose local port is in it are
 * decoded: most rows are other sockets, and building their address strings is most of the cost.
 */
export function parseTcpOwnerTable(
  bytes: Uint8Array,
  family: 4 | 6,
  used = bytes.length,
  localPorts?: ReadonlySet<number>,
): TcpOwnerRow[] {
  const end = Math.min(used, bytes.length);
  if (end < TABLE_HEADER) return [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, end);
  const size = family === 4 ? TCP4_ROW_SIZE : TCP6_ROW_SIZE;
  const count = Math.min(dword(view, 0), Math.floor((end - TABLE_HEADER) / size));
  const rows: TcpOwnerRow[] = [];
  for (let i = 0, at = TABLE_HEADER; i < count; i++, at += size) {
    if (localPorts && !localPorts.has(portAt(bytes, at + (family === 4 ? 8 : 20)))) continue;
    if (family === 4) {
      rows.push({
        state: dword(view, at),
        // dwLocalAddr / dwRemoteAddr hold the address in network order: its bytes as they lie in memory
        localAddress: formatAddress([...bytes.subarray(at + 4, at + 8)]),
        localPort: portAt(bytes, at + 8),
        remoteAddress: formatAddress([...bytes.subarray(at + 12, at + 16)]),
        remotePort: portAt(bytes, at + 16),
        pid: dword(view, at + 20),
      });
    } else {
      rows.push({
        localAddress: formatAddress([...bytes.subarray(at, at + 16)]),
        localPort: portAt(bytes, at + 20),
        remoteAddress: formatAddress([...bytes.subarray(at + 24, at + 40)]),
        remotePort: portAt(bytes, at + 44),
        state: dword(view, at + 48),
        pid: dword(view, at + 52),
      });
    }
  }
  return rows;
}

/** A security identifier: its S-1-... text, and its last sub-authority (the RID, which names the account within its domain). */
export interface Sid {
  text: string;
  rid: number;
}

/**
 * Decodes a SID (winnt.h SID: BYTE Revision, BYTE SubAuthorityCount, SID_IDENTIFIER_AUTHORITY (6 bytes,
 * big-endian), DWORD SubAuthority[SubAuthorityCount]) starting at `at`; null when it does not fit.
 */
export function parseSid(bytes: Uint8Array, at = 0): Sid | null {
  if (at < 0 || at + 8 > bytes.length) return null;
  const count = bytes[at + 1]!;
  if (count > 15 || at + 8 + 4 * count > bytes.length) return null; // SID_MAX_SUB_AUTHORITIES
  let authority = 0;
  for (let i = 0; i < 6; i++) authority = authority * 256 + bytes[at + 2 + i]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const subs: number[] = [];
  for (let i = 0; i < count; i++) subs.push(view.getUint32(at + 8 + 4 * i, true));
  return { text: ["S", bytes[at]!, authority, ...subs].join("-"), rid: subs.at(-1) ?? 0 };
}

/**
 * Where the SID of a TOKEN_USER lies within its own buffer. winnt.h TOKEN_USER is one SID_AND_ATTRIBUTES
 * { PSID Sid @0 (8 bytes on x64); DWORD Attributes @8 }, and GetTokenInformation puts the SID it points
 * to after it, in the same buffer: so offset = Sid - (the buffer's address). -1 if it points elsewhere.
 */
export function tokenUserSidOffset(bytes: Uint8Array, bufferAddress: number): number {
  if (bytes.length < 16) return -1;
  const pointer = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const offset = pointer - bufferAddress;
  return offset >= 16 && offset + 8 <= bytes.length ? offset : -1;
}

/** tlhelp32.h PROCESSENTRY32W on x64: dwSize @0, th32ProcessID @8, th32ParentProcessID @32, szExeFile WCHAR[260] @44; 568 bytes. */
export const PROCESS_ENTRY_SIZE = 568;

/** The fields of one PROCESSENTRY32W that attribution uses. */
export interface ProcessEntry {
  pid: number;
  ppid: number;
  /** The executable's file name (no folder). */
  exeFile: string;
}

/** Decodes a PROCESSENTRY32W filled by Process32FirstW / Process32NextW. */
export function parseProcessEntry(bytes: Uint8Array): ProcessEntry {
  const view = new DataView(bytes.buffer, bytes.byteOffset, PROCESS_ENTRY_SIZE);
  return { pid: view.getUint32(8, true), ppid: view.getUint32(32, true), exeFile: wideString(bytes, 44, 260) };
}

/** A NUL-terminated UTF-16LE string of at most maxChars characters starting at `at`. */
export function wideString(bytes: Uint8Array, at: number, maxChars: number): string {
  const end = Math.min(bytes.length, at + 2 * maxChars);
  let stop = at;
  while (stop + 1 < end && (bytes[stop]! | bytes[stop + 1]!) !== 0) stop += 2;
  return Buffer.from(bytes.buffer, bytes.byteOffset + at, stop - at).toString("utf16le");
}

/** The signature every VS_FIXEDFILEINFO starts with (verrsrc.h). */
const VS_FFI_SIGNATURE = 0xfeef04bd;

/**
 * The file version of a verrsrc.h VS_FIXEDFILEINFO (what VerQueryValueW(block, "\\") points to):
 * dwSignature @0, dwStrucVersion @4, dwFileVersionMS @8, dwFileVersionLS @12 (major.minor in the MS
 * word's high/low halves, build.patch in the LS word's); "" when the signature is wrong.
 */
export function fixedFileVersion(bytes: Uint8Array): string {
  if (bytes.length < 16) return "";
  const view = new DataView(bytes.buffer, bytes.byteOffset, 16);
  if (view.getUint32(0, true) !== VS_FFI_SIGNATURE) return "";
  const ms = view.getUint32(8, true);
  const ls = view.getUint32(12, true);
  return `${ms >>> 16}.${ms & 0xffff}.${ls >>> 16}.${ls & 0xffff}`;
}

/**
 * The language/code-page pairs of "\\VarFileInfo\\Translation" (pairs of WORDs), as the 8 hex digits
 * that name a StringFileInfo table ("040904b0" for US English, Unicode).
 */
export function translations(bytes: Uint8Array): string[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const out: string[] = [];
  for (let at = 0; at + 4 <= bytes.length && out.length < 16; at += 4) {
    const hex = (n: number) => n.toString(16).padStart(4, "0");
    out.push(hex(view.getUint16(at, true)) + hex(view.getUint16(at + 2, true)));
  }
  return out;
}
