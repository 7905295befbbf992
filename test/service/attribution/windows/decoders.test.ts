// The Windows decoders on byte buffers laid out as the SDK headers say (tcpmib.h, winnt.h, tlhelp32.h, verrsrc.h).
import { describe, expect, test } from "bun:test";
import {
  fixedFileVersion,
  parseProcessEntry,
  parseSid,
  parseTcpOwnerTable,
  PROCESS_ENTRY_SIZE,
  TCP4_ROW_SIZE,
  TCP6_ROW_SIZE,
  tokenUserSidOffset,
  translations,
  wideString,
} from "../../../../src/service/attribution/windows/decoders.ts";

/** A port DWORD as Windows stores it: network byte order in the low 16 bits of a little-endian DWORD. */
function putPort(view: DataView, at: number, port: number): void {
  view.setUint32(at, ((port & 0xff) << 8) | (port >>> 8), true);
}

/** MIB_TCPTABLE_OWNER_PID with the given MIB_TCPROW_OWNER_PID rows (24 bytes each, after a DWORD count). */
function table4(
  rows: { state: number; local: number[]; lport: number; remote: number[]; rport: number; pid: number }[],
  count = rows.length,
) {
  const bytes = new Uint8Array(4 + rows.length * TCP4_ROW_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, count, true);
  rows.forEach((r, i) => {
    const at = 4 + i * TCP4_ROW_SIZE;
    view.setUint32(at, r.state, true); // dwState
    bytes.set(r.local, at + 4); // dwLocalAddr: the address's bytes in network order
    putPort(view, at + 8, r.lport); // dwLocalPort
    bytes.set(r.remote, at + 12); // dwRemoteAddr
    putPort(view, at + 16, r.rport); // dwRemotePort
    view.setUint32(at + 20, r.pid, true); // dwOwningPid
  });
  return bytes;
}

/** MIB_TCP6TABLE_OWNER_PID with MIB_TCP6ROW_OWNER_PID rows (56 bytes each). */
function table6(
  rows: { local: number[]; lport: number; remote: number[]; rport: number; state: number; pid: number }[],
) {
  const bytes = new Uint8Array(4 + rows.length * TCP6_ROW_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, rows.length, true);
  rows.forEach((r, i) => {
    const at = 4 + i * TCP6_ROW_SIZE;
    bytes.set(r.local, at); // ucLocalAddr[16]
    view.setUint32(at + 16, 7, true); // dwLocalScopeId
    putPort(view, at + 20, r.lport); // dwLocalPort
    bytes.set(r.remote, at + 24); // ucRemoteAddr[16]
    view.setUint32(at + 40, 7, true); // dwRemoteScopeId
    putPort(view, at + 44, r.rport); // dwRemotePort
    view.setUint32(at + 48, r.state, true); // dwState
    view.setUint32(at + 52, r.pid, true); // dwOwningPid
  });
  return bytes;
}

const LOOPBACK6 = [...new Array(15).fill(0), 1];

describe("parseTcpOwnerTable", () => {
  test("decodes IPv4 rows: addresses, ports from network order, state and owner PID", () => {
    const bytes = table4([
      { state: 2, local: [127, 0, 0, 1], lport: 7870, remote: [0, 0, 0, 0], rport: 0, pid: 0 },
      { state: 5, local: [127, 0, 0, 1], lport: 60_098, remote: [127, 0, 0, 2], rport: 45_191, pid: 4242 },
    ]);
    expect(parseTcpOwnerTable(bytes, 4)).toEqual([
      { state: 2, localAddress: "127.0.0.1", localPort: 7870, remoteAddress: "0.0.0.0", remotePort: 0, pid: 0 },
      {
        state: 5,
        localAddress: "127.0.0.1",
        localPort: 60_098,
        remoteAddress: "127.0.0.2",
        remotePort: 45_191,
        pid: 4242,
      },
    ]);
  });

  test("decodes IPv6 rows, including an IPv4-mapped address", () => {
    const mapped = [...new Array(10).fill(0), 255, 255, 127, 0, 0, 1];
    const rows = parseTcpOwnerTable(
      table6([
        { local: LOOPBACK6, lport: 51_000, remote: LOOPBACK6, rport: 20_100, state: 5, pid: 99 },
        {
          local: mapped,
          lport: 1,
          remote: [0xfe, 0x80, ...new Array(13).fill(0), 2],
          rport: 65_535,
          state: 11,
          pid: 2 ** 32 - 1,
        },
      ]),
      6,
    );
    expect(rows).toEqual([
      { localAddress: "::1", localPort: 51_000, remoteAddress: "::1", remotePort: 20_100, state: 5, pid: 99 },
      {
        localAddress: "127.0.0.1",
        localPort: 1,
        remoteAddress: "fe80::2",
        remotePort: 65_535,
        state: 11,
        pid: 2 ** 32 - 1,
      },
    ]);
  });

  test("with a set of local ports, only the rows that have one are decoded", () => {
    const row = (lport: number) => ({
      state: 5,
      local: [127, 0, 0, 1],
      lport,
      remote: [127, 0, 0, 1],
      rport: 20_100,
      pid: lport,
    });
    const bytes = table4([row(51_000), row(51_001), row(51_002)]);
    expect(parseTcpOwnerTable(bytes, 4, bytes.length, new Set([51_001, 9])).map((r) => r.pid)).toEqual([51_001]);
    const six = table6([{ local: LOOPBACK6, lport: 51_000, remote: LOOPBACK6, rport: 1, state: 5, pid: 3 }]);
    expect(parseTcpOwnerTable(six, 6, six.length, new Set([51_000]))).toHaveLength(1);
    expect(parseTcpOwnerTable(six, 6, six.length, new Set([1]))).toHaveLength(0);
  });

  test("never reads past the bytes written: a count larger than the buffer, a short buffer, an empty one", () => {
    const row = { state: 5, local: [127, 0, 0, 1], lport: 1000, remote: [127, 0, 0, 1], rport: 2000, pid: 7 };
    expect(parseTcpOwnerTable(table4([row, row], 1000), 4)).toHaveLength(2);
    const two = table4([row, row]);
    expect(parseTcpOwnerTable(two, 4, 4 + TCP4_ROW_SIZE + 10)).toHaveLength(1);
    expect(parseTcpOwnerTable(new Uint8Array(0), 4)).toEqual([]);
    expect(parseTcpOwnerTable(new Uint8Array(3), 6)).toEqual([]);
    // a view into a larger buffer at an offset decodes the same
    const padded = new Uint8Array(two.length + 8);
    padded.set(two, 8);
    expect(parseTcpOwnerTable(padded.subarray(8), 4)).toEqual(parseTcpOwnerTable(two, 4));
  });
});

describe("SIDs and TOKEN_USER", () => {
  /** A SID: Revision, SubAuthorityCount, 6-byte big-endian IdentifierAuthority, little-endian DWORD sub-authorities. */
  function sid(authority: number, subs: number[]): Uint8Array {
    const bytes = new Uint8Array(8 + 4 * subs.length);
    const view = new DataView(bytes.buffer);
    bytes[0] = 1;
    bytes[1] = subs.length;
    view.setUint16(2, 0);
    view.setUint32(4, authority); // big-endian, as SID_IDENTIFIER_AUTHORITY.Value[6]
    subs.forEach((s, i) => view.setUint32(8 + 4 * i, s, true));
    return bytes;
  }

  test("a user's SID gives its S-1-5-21-... text and its RID", () => {
    expect(parseSid(sid(5, [21, 3_623_811_015, 3_361_044_348, 30_300_820, 1001]))).toEqual({
      text: "S-1-5-21-3623811015-3361044348-30300820-1001",
      rid: 1001,
    });
    expect(parseSid(sid(5, [18]))).toEqual({ text: "S-1-5-18", rid: 18 }); // LocalSystem
  });

  test("a truncated or impossible SID decodes to null", () => {
    const full = sid(5, [21, 1, 2, 3, 1001]);
    expect(parseSid(full.subarray(0, full.length - 1))).toBeNull();
    const tooMany = sid(5, [1]);
    tooMany[1] = 16; // more than SID_MAX_SUB_AUTHORITIES
    expect(parseSid(tooMany)).toBeNull();
    expect(parseSid(new Uint8Array(4))).toBeNull();
  });

  test("TOKEN_USER's Sid pointer is turned into an offset within the same buffer, or -1 when it points elsewhere", () => {
    const buffer = new Uint8Array(64);
    const view = new DataView(buffer.buffer);
    const base = 0x7ff6_1234_0000;
    view.setBigUint64(0, BigInt(base + 16), true); // SID_AND_ATTRIBUTES.Sid
    view.setUint32(8, 0, true); // Attributes
    buffer.set(sid(5, [21, 1, 2, 3, 500]), 16);
    const at = tokenUserSidOffset(buffer, base);
    expect(at).toBe(16);
    expect(parseSid(buffer, at)?.rid).toBe(500);
    view.setBigUint64(0, BigInt(base + 4096), true);
    expect(tokenUserSidOffset(buffer, base)).toBe(-1);
    view.setBigUint64(0, BigInt(base - 8), true);
    expect(tokenUserSidOffset(buffer, base)).toBe(-1);
  });
});

describe("PROCESSENTRY32W", () => {
  test("gives the PID, the parent PID and the executable's file name", () => {
    const entry = new Uint8Array(PROCESS_ENTRY_SIZE);
    const view = new DataView(entry.buffer);
    view.setUint32(0, PROCESS_ENTRY_SIZE, true); // dwSize
    view.setUint32(4, 0, true); // cntUsage
    view.setUint32(8, 10_412, true); // th32ProcessID
    view.setBigUint64(16, 0n, true); // th32DefaultHeapID (ULONG_PTR, so 8-aligned)
    view.setUint32(24, 0, true); // th32ModuleID
    view.setUint32(28, 31, true); // cntThreads
    view.setUint32(32, 9_876, true); // th32ParentProcessID
    view.setInt32(36, 8, true); // pcPriClassBase
    view.setUint32(40, 0, true); // dwFlags
    entry.set(Buffer.from("msedge.exe\0", "utf16le"), 44); // szExeFile[MAX_PATH]
    expect(parseProcessEntry(entry)).toEqual({ pid: 10_412, ppid: 9_876, exeFile: "msedge.exe" });
  });

  test("a name that fills all 260 characters without a NUL stops at the end of the field", () => {
    const entry = new Uint8Array(PROCESS_ENTRY_SIZE);
    entry.set(Buffer.from("a".repeat(262), "utf16le").subarray(0, PROCESS_ENTRY_SIZE - 44), 44);
    expect(parseProcessEntry(entry).exeFile).toBe("a".repeat(260));
  });
});

describe("version resources", () => {
  test("VS_FIXEDFILEINFO gives major.minor.build.patch from dwFileVersionMS/LS", () => {
    const fixed = new Uint8Array(52); // sizeof(VS_FIXEDFILEINFO): 13 DWORDs
    const view = new DataView(fixed.buffer);
    view.setUint32(0, 0xfeef04bd, true); // dwSignature
    view.setUint32(4, 0x0001_0000, true); // dwStrucVersion
    view.setUint32(8, (131 << 16) | 0, true); // dwFileVersionMS: Chrome 131.0
    view.setUint32(12, (6778 << 16) | 86, true); // dwFileVersionLS: .6778.86
    expect(fixedFileVersion(fixed)).toBe("131.0.6778.86");
    view.setUint32(0, 0, true);
    expect(fixedFileVersion(fixed)).toBe("");
    expect(fixedFileVersion(fixed.subarray(0, 12))).toBe("");
  });

  test("\\VarFileInfo\\Translation pairs name their StringFileInfo tables", () => {
    const pairs = new Uint8Array(8);
    const view = new DataView(pairs.buffer);
    view.setUint16(0, 0x0409, true); // US English
    view.setUint16(2, 0x04b0, true); // Unicode (1200)
    view.setUint16(4, 0x0407, true); // German
    view.setUint16(6, 0x04e4, true); // Windows-1252
    expect(translations(pairs)).toEqual(["040904b0", "040704e4"]);
    expect(translations(pairs.subarray(0, 6))).toEqual(["040904b0"]);
  });

  test("wide strings stop at the NUL, at maxChars, or at the end of the bytes", () => {
    const text = Buffer.from("Google Chrome\0junk", "utf16le");
    expect(wideString(text, 0, 100)).toBe("Google Chrome");
    expect(wideString(text, 0, 6)).toBe("Google");
    expect(wideString(Buffer.from("Edge", "utf16le"), 0, 100)).toBe("Edge");
    expect(wideString(Buffer.from("Edge", "utf16le").subarray(0, 7), 0, 100)).toBe("Edg");
  });
});
