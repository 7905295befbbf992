// The Win32 calls attribution makes, through bun:ffi: TCP owner tables, process names, users, parents, version resources.
import { dlopen, FFIType, ptr } from "bun:ffi";
import {
  fixedFileVersion,
  parseProcessEntry,
  parseSid,
  PROCESS_ENTRY_SIZE,
  type ProcessEntry,
  tokenUserSidOffset,
  translations,
  wideString,
} from "./decoders.ts";

const { ptr: P, u32, i32, u64 } = FFIType;

/** iphlpapi.h TCP_TABLE_CLASS TCP_TABLE_OWNER_PID_ALL: every TCP row, with its owner's PID. */
const TCP_TABLE_OWNER_PID_ALL = 5;
const AF_INET = 2;
const AF_INET6 = 23;
const NO_ERROR = 0;
const ERROR_INSUFFICIENT_BUFFER = 122;
/** Wine's GetExtendedTcpTable answers this when the table changes while it is read (seen when a burst of knocks arrives): read again. */
const ERROR_OUTOFMEMORY = 14;
/** processthreadsapi.h: enough to name a process of another user, unlike PROCESS_QUERY_INFORMATION. */
const PROCESS_QUERY_LIMITED_INFORMATION = 0x1000;
const TOKEN_QUERY = 0x0008;
/** winnt.h TOKEN_INFORMATION_CLASS TokenUser. */
const TOKEN_USER_CLASS = 1;
/** tlhelp32.h TH32CS_SNAPPROCESS. */
const TH32CS_SNAPPROCESS = 0x2;
const INVALID_HANDLE_VALUE = 0xffffffffffffffffn;

/** The largest TCP table read (a busy server holds tens of thousands of rows; 64 MiB is far beyond). */
const MAX_TABLE_BYTES = 64 << 20;
/** Processes read from one snapshot; Windows caps far lower in practice. */
const MAX_PROCESSES = 1 << 16;
/** MAX_PATH is 260, but long paths reach 32,767 characters. */
const MAX_PATH_CHARS = 32_768;
/** A version resource larger than this is not read (Chrome's is about 2 KB). */
const MAX_VERSION_BYTES = 1 << 20;

type Handle = bigint;

function load() {
  const iphlpapi = dlopen("iphlpapi.dll", {
    GetExtendedTcpTable: { args: [P, P, i32, u32, i32, u32], returns: u32 },
  });
  const kernel32 = dlopen("kernel32.dll", {
    OpenProcess: { args: [u32, i32, u32], returns: u64 },
    CloseHandle: { args: [u64], returns: i32 },
    QueryFullProcessImageNameW: { args: [u64, u32, P, P], returns: i32 },
    GetProcessTimes: { args: [u64, P, P, P, P], returns: i32 },
    CreateToolhelp32Snapshot: { args: [u32, u32], returns: u64 },
    Process32FirstW: { args: [u64, P], returns: i32 },
    Process32NextW: { args: [u64, P], returns: i32 },
  });
  const advapi32 = dlopen("advapi32.dll", {
    OpenProcessToken: { args: [u64, u32, P], returns: i32 },
    GetTokenInformation: { args: [u64, i32, P, u32, P], returns: i32 },
    LookupAccountSidW: { args: [P, P, P, P, P, P, P], returns: i32 },
  });
  const version = dlopen("version.dll", {
    GetFileVersionInfoSizeW: { args: [P, P], returns: u32 },
    GetFileVersionInfoW: { args: [P, u32, u32, P], returns: i32 },
    VerQueryValueW: { args: [P, P, P, P], returns: i32 },
  });
  return { ...iphlpapi.symbols, ...kernel32.symbols, ...advapi32.symbols, ...version.symbols };
}

let symbols: ReturnType<typeof load> | undefined;
/** Loaded on first use, so merely choosing the Windows attributor elsewhere (tests on Linux) loads nothing. */
const win = () => (symbols ??= load());

const wide = (text: string) => Buffer.from(`${text}\0`, "utf16le");

/** A reused table buffer, grown when Windows says it needs more. */
let tableBuffer = new Uint8Array(1 << 16);

/**
 * One GetExtendedTcpTable read (TCP_TABLE_OWNER_PID_ALL) for IPv4 or IPv6, as bytes for
 * parseTcpOwnerTable, valid until the next read (the buffer is reused). On ERROR_INSUFFICIENT_BUFFER the size it asks for (plus room for growth) is
 * allocated and the call retried, a bounded number of times.
 */
export function readTcpTable(family: 4 | 6): Uint8Array {
  const size = new Uint32Array(1);
  for (let attempt = 0; attempt < 8; attempt++) {
    size[0] = tableBuffer.length;
    const status = win().GetExtendedTcpTable(
      tableBuffer,
      size,
      0,
      family === 4 ? AF_INET : AF_INET6,
      TCP_TABLE_OWNER_PID_ALL,
      0,
    );
    if (status === NO_ERROR) return tableBuffer.subarray(0, size[0]);
    if (status === ERROR_OUTOFMEMORY) continue;
    if (status !== ERROR_INSUFFICIENT_BUFFER)
      throw new Error(`GetExtendedTcpTable (IPv${family}) failed with error ${status}`);
    const wanted = Math.max(size[0]!, tableBuffer.length) * 1.5;
    if (wanted > MAX_TABLE_BYTES)
      throw new Error(`the IPv${family} TCP table needs ${size[0]} bytes, over the ${MAX_TABLE_BYTES}-byte bound`);
    tableBuffer = new Uint8Array(Math.ceil(wanted));
  }
  throw new Error(`the IPv${family} TCP table kept growing while it was read`);
}

/** An open process handle, or null when the process is gone or closed to us. Close it with {@link closeHandle}. */
export function openProcess(pid: number): Handle | null {
  const handle = BigInt(win().OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid));
  return handle === 0n ? null : handle;
}

export function closeHandle(handle: Handle): void {
  win().CloseHandle(handle);
}

const pathBuffer = new Uint8Array(MAX_PATH_CHARS * 2);

/** The process's executable as a Win32 path (QueryFullProcessImageNameW, flags 0); "" if it cannot be read. */
export function imagePath(handle: Handle): string {
  const chars = new Uint32Array([MAX_PATH_CHARS]);
  if (!win().QueryFullProcessImageNameW(handle, 0, pathBuffer, chars)) return "";
  return Buffer.from(pathBuffer.buffer, 0, Math.min(chars[0]!, MAX_PATH_CHARS) * 2).toString("utf16le");
}

/** The process's creation time (FILETIME as one number), which tells a process from a later one that reuses its PID. */
export function creationTime(handle: Handle): bigint {
  const times = new BigUint64Array(4);
  const ok = win().GetProcessTimes(
    handle,
    times.subarray(0, 1),
    times.subarray(1, 2),
    times.subarray(2, 3),
    times.subarray(3, 4),
  );
  return ok ? times[0]! : 0n;
}

/** The account the process runs as: "DOMAIN\\name" (or its SID text when it has no name) and its RID; null if its token is closed to us. */
export function processUser(handle: Handle): { user: string; rid: number } | null {
  const token = new BigUint64Array(1);
  if (!win().OpenProcessToken(handle, TOKEN_QUERY, token)) return null;
  try {
    const info = new Uint8Array(256); // a TOKEN_USER with the largest SID (15 sub-authorities) needs 84
    const needed = new Uint32Array(1);
    if (!win().GetTokenInformation(token[0]!, TOKEN_USER_CLASS, info, info.length, needed)) return null;
    const at = tokenUserSidOffset(info, Number(ptr(info)));
    const sid = at < 0 ? null : parseSid(info, at);
    if (!sid) return null;
    const name = new Uint8Array(512);
    const domain = new Uint8Array(512);
    const nameChars = new Uint32Array([256]);
    const domainChars = new Uint32Array([256]);
    const use = new Uint32Array(1);
    if (!win().LookupAccountSidW(null, info.subarray(at), name, nameChars, domain, domainChars, use))
      return { user: sid.text, rid: sid.rid };
    const user = wideString(name, 0, 256);
    const realm = wideString(domain, 0, 256);
    return { user: realm ? `${realm}\\${user}` : user, rid: sid.rid };
  } finally {
    win().CloseHandle(token[0]!);
  }
}

/** Every process (PID, parent PID, executable file name) from one Toolhelp snapshot. */
export function processEntries(): ProcessEntry[] {
  const snapshot = BigInt(win().CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0));
  if (snapshot === INVALID_HANDLE_VALUE || snapshot === 0n) return [];
  try {
    const entry = new Uint8Array(PROCESS_ENTRY_SIZE);
    new DataView(entry.buffer).setUint32(0, PROCESS_ENTRY_SIZE, true); // dwSize must be set before the first call
    const out: ProcessEntry[] = [];
    for (
      let ok = win().Process32FirstW(snapshot, entry);
      ok && out.length < MAX_PROCESSES;
      ok = win().Process32NextW(snapshot, entry)
    ) {
      out.push(parseProcessEntry(entry));
    }
    return out;
  } finally {
    win().CloseHandle(snapshot);
  }
}

/** What an executable's version resource says about it. */
export interface FileVersion {
  version: string;
  productName: string;
  companyName: string;
}

/** Reads an executable's version resource (version.dll); no process is started. null when it has none. */
export function fileVersion(path: string): FileVersion | null {
  const file = wide(path);
  const ignored = new Uint32Array(1);
  const size = win().GetFileVersionInfoSizeW(file, ignored);
  if (size === 0 || size > MAX_VERSION_BYTES) return null;
  const block = new Uint8Array(size);
  if (!win().GetFileVersionInfoW(file, 0, size, block)) return null;
  const base = Number(ptr(block));
  /**
   * VerQueryValueW points into `block`: the bytes it names, or null when absent or outside the block.
   * It counts a string value's length in characters, anything else in bytes.
   */
  const query = (subBlock: string, unit: 1 | 2): Uint8Array | null => {
    const where = new BigUint64Array(1);
    const length = new Uint32Array(1);
    if (!win().VerQueryValueW(block, wide(subBlock), where, length)) return null;
    const at = Number(where[0]!) - base;
    return at >= 0 && at <= size ? block.subarray(at, Math.min(size, at + length[0]! * unit)) : null;
  };
  const fixed = query("\\", 1);
  const text = (name: string): string => {
    for (const table of [
      ...translations(query("\\VarFileInfo\\Translation", 1) ?? new Uint8Array()),
      "040904b0",
      "040904e4",
    ]) {
      const value = query(`\\StringFileInfo\\${table}\\${name}`, 2);
      if (value) return wideString(value, 0, value.length / 2).trim();
    }
    return "";
  };
  const productVersion = text("ProductVersion");
  const version = (fixed ? fixedFileVersion(fixed) : "") || productVersion;
  if (!version) return null;
  return { version, productName: text("ProductName"), companyName: text("CompanyName") };
}
