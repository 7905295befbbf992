// The Windows attributor: its matching and caching on scripted Win32 answers here, and the real Win32 calls under Wine.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createAttributor, createBrowserIdentifier } from "../../../../src/service/attribution/index.ts";
import type { KnockSocket, ProcessInfo } from "../../../../src/service/attribution/types.ts";
import { type Win32, windowsAttributor } from "../../../../src/service/attribution/windows/attributor.ts";
import { TCP4_ROW_SIZE, TCP6_ROW_SIZE } from "../../../../src/service/attribution/windows/decoders.ts";
import { type IdentityWin32, windowsBrowserIdentifier } from "../../../../src/service/attribution/windows/identity.ts";
import { ROOT } from "../../../helpers.ts";
import { runWine, windowsBinary, winePath } from "../../../wine.ts";
import { AttributionError } from "../../../../src/lib/errors.ts";

interface Row {
  local: number[];
  lport: number;
  remote: number[];
  rport: number;
  pid: number;
}

/** An owner-PID table as GetExtendedTcpTable writes it (tcpmib.h layouts; ports network order in the low 16 bits). */
function tableBytes(family: 4 | 6, rows: Row[]): Uint8Array {
  const size = family === 4 ? TCP4_ROW_SIZE : TCP6_ROW_SIZE;
  const bytes = new Uint8Array(4 + rows.length * size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, rows.length, true);
  const port = (at: number, p: number) => view.setUint16(at, p, false);
  rows.forEach((r, i) => {
    const at = 4 + i * size;
    if (family === 4) {
      view.setUint32(at, 5, true);
      bytes.set(r.local, at + 4);
      port(at + 8, r.lport);
      bytes.set(r.remote, at + 12);
      port(at + 16, r.rport);
      view.setUint32(at + 20, r.pid, true);
    } else {
      bytes.set(r.local, at);
      port(at + 20, r.lport);
      bytes.set(r.remote, at + 24);
      port(at + 44, r.rport);
      view.setUint32(at + 48, 5, true);
      view.setUint32(at + 52, r.pid, true);
    }
  });
  return bytes;
}

const LO4 = [127, 0, 0, 1];
const LO6 = [...new Array(15).fill(0), 1];
const CHROME = "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe";

/** Scripted Win32: tables per family, and processes by PID; counts the calls that cost. */
function fakeWin32(
  tables: { 4: Row[]; 6: Row[] },
  processes: Record<number, { exe: string; ppid: number; created?: bigint }>,
) {
  const calls = { tables: 0, snapshots: 0, images: 0, opened: 0, closed: 0 };
  const api: Win32 & IdentityWin32 = {
    readTcpTable: (family) => (calls.tables++, tableBytes(family, tables[family])),
    openProcess: (pid) => (processes[pid] ? (calls.opened++, BigInt(pid)) : null),
    closeHandle: () => void calls.closed++,
    imagePath: (h) => (calls.images++, processes[Number(h)]?.exe ?? ""),
    creationTime: (h) => processes[Number(h)]?.created ?? 1n,
    processUser: () => ({ user: "DESKTOP\\ada", rid: 1001 }),
    processEntries: () => (
      calls.snapshots++,
      Object.entries(processes).map(([pid, p]) => ({
        pid: Number(pid),
        ppid: p.ppid,
        exeFile: p.exe.slice(p.exe.lastIndexOf("\\") + 1),
      }))
    ),
    fileVersion: (exe) =>
      exe === CHROME ? { version: "131.0.6778.86", productName: "Google Chrome", companyName: "Google LLC" } : null,
  };
  return { api, calls };
}

const knock = (remotePort: number, localPort = 20_100, address = "127.0.0.1"): KnockSocket => ({
  localAddress: address,
  localPort,
  remoteAddress: address,
  remotePort,
});

describe("windows attributor (scripted Win32)", () => {
  test("finds the knocker's row (its local end is our remote end) and names the process", async () => {
    const { api } = fakeWin32(
      {
        4: [
          { local: LO4, lport: 20_100, remote: LO4, rport: 51_000, pid: 0 }, // our accepted socket (PID 0 under Wine)
          { local: LO4, lport: 51_000, remote: [127, 0, 0, 2], rport: 20_100, pid: 666 }, // same ports, other address
          { local: LO4, lport: 51_000, remote: LO4, rport: 20_101, pid: 667 }, // same peer port, other listening port
          { local: LO4, lport: 51_000, remote: LO4, rport: 20_100, pid: 4242 },
        ],
        6: [],
      },
      {
        4242: { exe: CHROME, ppid: 4000 },
        666: { exe: "C:\\evil.exe", ppid: 1 },
        667: { exe: "C:\\evil.exe", ppid: 1 },
      },
    );
    const info = await windowsAttributor({ win32: api }).attribute(knock(51_000));
    expect(info).toEqual({ pid: 4242, ppid: 4000, uid: 1001, user: "DESKTOP\\ada", exe: CHROME, name: "chrome.exe" });
  });

  test("IPv6 knocks are looked up in the IPv6 table; a peer with no row, or only a PID-0 row, gives null", async () => {
    const { api } = fakeWin32(
      {
        4: [{ local: LO4, lport: 52_000, remote: LO4, rport: 20_100, pid: 0 }],
        6: [{ local: LO6, lport: 51_000, remote: LO6, rport: 20_100, pid: 77 }],
      },
      { 77: { exe: CHROME, ppid: 1 } },
    );
    const attributor = windowsAttributor({ win32: api });
    expect((await attributor.attribute(knock(51_000, 20_100, "::1")))?.pid).toBe(77);
    expect(await attributor.attribute(knock(51_000))).toBeNull(); // that row is IPv6, this knock IPv4
    expect(await attributor.attribute(knock(52_000))).toBeNull();
  });

  test("a row missing from one read is looked for in the next; a peer that stays missing settles null after four reads", async () => {
    const rows: Row[] = [];
    const { api, calls } = fakeWin32({ 4: rows, 6: [] }, { 12: { exe: CHROME, ppid: 1 } });
    const attributor = windowsAttributor({
      win32: {
        ...api,
        readTcpTable(family) {
          const bytes = api.readTcpTable(family);
          rows.push({ local: LO4, lport: 51_005, remote: LO4, rport: 20_100, pid: 12 }); // appears after the first read
          return bytes;
        },
      },
    });
    expect((await attributor.attribute(knock(51_005)))?.pid).toBe(12);
    expect(calls.tables).toBe(2);
    expect(await attributor.attribute(knock(51_999))).toBeNull();
    expect(calls.tables).toBe(6);
  });

  test("knocks that arrive together share one table read and one snapshot; a known process is not described again", async () => {
    const rows = [51_001, 51_002, 51_003, 51_004].map((lport) => ({
      local: LO4,
      lport,
      remote: LO4,
      rport: 20_100,
      pid: 10,
    }));
    const { api, calls } = fakeWin32({ 4: rows, 6: [] }, { 10: { exe: CHROME, ppid: 9 } });
    const attributor = windowsAttributor({ win32: api });
    const infos = await Promise.all(rows.map((r) => attributor.attribute(knock(r.lport))));
    expect(infos.map((i) => i?.pid)).toEqual([10, 10, 10, 10]);
    expect(calls.tables).toBe(1);
    expect(calls.snapshots).toBe(1);
    expect(calls.images).toBe(1);
    expect(calls.opened).toBe(calls.closed); // every handle opened is closed
    await attributor.attribute(knock(51_001));
    expect(calls.images).toBe(1); // same PID, same creation time: the description is reused
  });

  test("a PID reused by a new process (another creation time) is described afresh", async () => {
    const processes = { 10: { exe: CHROME, ppid: 9, created: 1n } };
    const { api, calls } = fakeWin32(
      { 4: [{ local: LO4, lport: 51_001, remote: LO4, rport: 20_100, pid: 10 }], 6: [] },
      processes,
    );
    const attributor = windowsAttributor({ win32: api });
    expect((await attributor.attribute(knock(51_001)))?.exe).toBe(CHROME);
    processes[10] = { exe: "C:\\Windows\\notepad.exe", ppid: 9, created: 2n };
    expect((await attributor.attribute(knock(51_001)))?.exe).toBe("C:\\Windows\\notepad.exe");
    expect(calls.images).toBe(2);
  });

  test("a process closed to us is still named by its PID; a failing table read rejects with a typed error", async () => {
    const { api } = fakeWin32({ 4: [{ local: LO4, lport: 51_001, remote: LO4, rport: 20_100, pid: 31 }], 6: [] }, {});
    expect(await windowsAttributor({ win32: api }).attribute(knock(51_001))).toEqual({
      pid: 31,
      ppid: 0,
      uid: 0,
      user: "",
      exe: "",
      name: "",
    });
    const failing = windowsAttributor({
      win32: {
        ...api,
        readTcpTable: () => {
          throw new Error("GetExtendedTcpTable (IPv4) failed with error 87");
        },
      },
    });
    const error = await failing.attribute(knock(51_001)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AttributionError);
    expect((error as AttributionError).code).toBe("ATTRIBUTION");
  });
});

describe("windows browser identity (scripted Win32)", () => {
  test("a network-service child walks up to the browser process and gets the version resource's name and version", async () => {
    const { api } = fakeWin32(
      { 4: [], 6: [] },
      {
        500: { exe: CHROME, ppid: 100 },
        100: { exe: CHROME, ppid: 50 },
        50: { exe: "C:\\Windows\\explorer.exe", ppid: 4 },
      },
    );
    const child: ProcessInfo = {
      pid: 500,
      ppid: 100,
      uid: 1001,
      user: "DESKTOP\\ada",
      exe: CHROME,
      name: "chrome.exe",
    };
    expect((await windowsBrowserIdentifier(api).identify(child)).browser).toEqual({
      name: "Google Chrome",
      version: "131.0.6778.86",
      pid: 100,
      exe: CHROME,
    });
  });

  test("a program that is no browser gets no browser", async () => {
    const tool = "C:\\Tools\\curl.exe";
    const { api } = fakeWin32(
      { 4: [], 6: [] },
      { 7: { exe: tool, ppid: 3 }, 3: { exe: "C:\\Windows\\explorer.exe", ppid: 1 } },
    );
    const process: ProcessInfo = { pid: 7, ppid: 3, uid: 1001, user: "DESKTOP\\ada", exe: tool, name: "curl.exe" };
    expect(
      (
        await windowsBrowserIdentifier({
          ...api,
          fileVersion: () => ({ version: "8.4.0.0", productName: "curl", companyName: "" }),
        }).identify(process)
      ).browser,
    ).toBeUndefined();
  });
});

describe("platform choice", () => {
  test("win32 gets the Windows attributor and identifier, without loading any DLL until the first knock", () => {
    expect(createAttributor("win32").name).toBe("windows-iphlpapi");
    expect(typeof createBrowserIdentifier("win32").identify).toBe("function");
  });
});

describe("windows attributor under Wine (real Win32 calls)", () => {
  test("a child of the same executable knocks: IPv4 names it, identity walks to its parent, a vanished peer gives null", async () => {
    const exe = await windowsBinary();
    const run = await runWine(exe, [join(ROOT, "test/fixtures/windows-attribution.ts")], 90_000, { BUN_BE_BUN: "1" });
    const line = run.stdout.split("\n").find((l) => l.startsWith("{"));
    if (!line) throw new Error(`the fixture printed no result (exit ${run.code}): ${run.stdout}${run.stderr}`);
    const out = JSON.parse(line);
    expect(out.accepted).toBe(2);
    expect(out.rowOwners.ipv4).toBe(out.child);
    expect(out.ipv4).toMatchObject({ pid: out.child, ppid: out.self, name: "pkipc.exe", exe: winePath(exe) });
    expect(out.ipv4.user).toMatch(/\\/);
    // the IPv6 row is found and decoded, but Wine 8 records no owner for IPv6 sockets (PID 0): nothing to name
    expect(out.rowOwners.ipv6).not.toBeNull();
    if (out.rowOwners.ipv6 === 0) expect(out.ipv6).toBeNull();
    else expect(out.ipv6?.pid).toBe(out.child);
    // the parent runs the same executable, as chrome.exe over its network service: the version resource names it
    expect(out.browser).toEqual({
      name: "Bun",
      version: expect.stringMatching(/^\d+\.\d+\.\d+\.\d+$/),
      pid: out.self,
      exe: winePath(exe),
    });
    expect(out.gone).toBeNull();
  });
});
