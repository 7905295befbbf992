// The macOS attributor on recorded libSystem answers: the pcblist_n lookup, the libproc fallback, and the platform pick.
import { describe, expect, test } from "bun:test";
import { darwinAttributor } from "../../../../src/service/attribution/darwin/attributor.ts";
import type { LibSystem } from "../../../../src/service/attribution/darwin/libsystem.ts";
import { decodeBsdInfo } from "../../../../src/service/attribution/darwin/proc-info.ts";
import { createAttributor } from "../../../../src/service/attribution/index.ts";
import { bsdInfo, fdList, pcbList, socketFdInfo } from "./layouts.ts";
import { DarwinUnavailableError } from "../../../../src/lib/errors.ts";

const helperExe =
  "/Applications/Google Chrome.app/Contents/Frameworks/Google Chrome Framework.framework/Versions/131.0.6778.86/Helpers/Google Chrome Helper.app/Contents/MacOS/Google Chrome Helper";
const knock = { localAddress: "127.0.0.1", localPort: 7900, remoteAddress: "127.0.0.1", remotePort: 52100 };

/** libSystem as a Mac would answer, from the layouts' buffers; `pcb` replaces the sysctl's answer. */
function fakeLib(pcb: Uint8Array | undefined, calls: string[] = []): LibSystem {
  const procs: Record<number, { exe: string; info: Uint8Array; fds: Uint8Array; sockets: Record<number, Uint8Array> }> =
    {
      400: {
        exe: "/usr/local/bin/pkipc",
        info: bsdInfo(400, 1, 501, "pkipc"),
        fds: fdList([[5, 2]]),
        sockets: {
          5: socketFdInfo({ kind: 2, local: "127.0.0.1", localPort: 7900, remote: "127.0.0.1", remotePort: 52100 }),
        },
      },
      812: {
        exe: helperExe,
        info: bsdInfo(812, 500, 501, "Google Chrome H"),
        fds: fdList([
          [3, 1],
          [31, 2],
          [32, 2],
        ]),
        sockets: {
          31: socketFdInfo({ kind: 2, local: "127.0.0.1", localPort: 52099, remote: "127.0.0.1", remotePort: 7900 }),
          32: socketFdInfo({ kind: 2, local: "127.0.0.1", localPort: 52100, remote: "127.0.0.1", remotePort: 7900 }),
        },
      },
    };
  return {
    pcbList: () => (calls.push("pcbList"), pcb),
    bsdInfo: (pid) => (procs[pid] ? decodeBsdInfo(procs[pid].info) : null),
    exePath: (pid) => procs[pid]?.exe ?? "",
    userName: (uid) => (uid === 501 ? "ada" : String(uid)),
    pids: () => (calls.push("pids"), [1, 400, 812]),
    fdList: (pid) => (procs[pid] ? { bytes: procs[pid].fds, length: procs[pid].fds.byteLength } : undefined),
    socketInfo: (pid, fd) => procs[pid]?.sockets[fd],
    responsiblePid: () => 0,
  };
}

const sockets = pcbList([
  { macos: 13, local: "127.0.0.1", localPort: 7900, remote: "127.0.0.1", remotePort: 52100, uid: 501, pid: 400 },
  { macos: 13, local: "127.0.0.1", localPort: 52100, remote: "127.0.0.1", remotePort: 7900, uid: 501, pid: 812 },
]);
const expected = { pid: 812, ppid: 500, uid: 501, user: "ada", exe: helperExe, name: "Google Chrome Helper" };

describe("darwinAttributor", () => {
  test("one pcblist_n read names the knocking process, its parent, user and executable", async () => {
    const calls: string[] = [];
    expect(await darwinAttributor({ lib: fakeLib(sockets, calls) }).attribute(knock)).toEqual(expected);
    expect(calls).toEqual(["pcbList"]);
  });

  test("knocks accepted together share one sysctl", async () => {
    const calls: string[] = [];
    const attributor = darwinAttributor({ lib: fakeLib(sockets, calls) });
    const [a, b] = await Promise.all([
      attributor.attribute(knock),
      attributor.attribute({ ...knock, remotePort: 52101 }),
    ]);
    expect([a?.pid, b]).toEqual([812, null]);
    expect(calls).toEqual(["pcbList"]);
  });

  test("a knock no socket matches (the peer closed first) resolves null", async () => {
    expect(await darwinAttributor({ lib: fakeLib(sockets) }).attribute({ ...knock, remotePort: 52101 })).toBeNull();
  });

  test("when the sysctl fails or its layout is unknown, the libproc walk finds the same process", async () => {
    for (const pcb of [undefined, new Uint8Array(64).fill(9)]) {
      const calls: string[] = [];
      expect(await darwinAttributor({ lib: fakeLib(pcb, calls) }).attribute(knock)).toEqual(expected);
      expect(calls).toEqual(["pcbList", "pids"]);
    }
  });

  test("createAttributor picks the darwin attributor on macOS (here it cannot open libSystem: a typed error)", () => {
    expect(() => createAttributor("darwin")).toThrow(DarwinUnavailableError);
    expect(darwinAttributor({ lib: fakeLib(sockets) }).name).toBe("darwin-pcblist");
  });
});
