// The macOS decoders on buffers laid out as XNU's headers say: pcblist_n (both record sizes), proc_bsdinfo, socket_fdinfo.
import { describe, expect, test } from "bun:test";
import { decodePcbList } from "../../../../src/service/attribution/darwin/pcblist.ts";
import { findKnocker } from "../../../../src/service/attribution/darwin/attributor.ts";
import { decodeBsdInfo, decodeSocketFdInfo, socketFds } from "../../../../src/service/attribution/darwin/proc-info.ts";
import { bsdInfo, concat, fdList, pcbList, pcbRecord, type SocketSpec, socketFdInfo, xinpgen } from "./layouts.ts";
import { PcbListError } from "../../../../src/lib/errors.ts";

const browser = (macos: 12 | 13): SocketSpec => ({
  macos,
  local: "127.0.0.1",
  localPort: 52100,
  remote: "127.0.0.1",
  remotePort: 7900,
  uid: 501,
  pid: 812,
});
const listener = (macos: 12 | 13): SocketSpec => ({
  macos,
  local: "127.0.0.1",
  localPort: 7900,
  remote: "127.0.0.1",
  remotePort: 52100,
  uid: 501,
  pid: 400,
});
const v6 = (macos: 12 | 13): SocketSpec => ({
  macos,
  local: "::1",
  localPort: 52200,
  remote: "::1",
  remotePort: 7901,
  uid: 502,
  pid: 913,
  ePid: 650,
  state: 4,
});

describe("net.inet.tcp.pcblist_n", () => {
  for (const macos of [12, 13] as const) {
    test(`macOS ${macos} records (${macos === 12 ? 592 : 616} bytes with TCP) decode to ports, addresses, uid and pid`, () => {
      const buffer = pcbList([listener(macos), browser(macos), v6(macos)]);
      expect(buffer.byteLength).toBe(24 + 3 * (macos === 12 ? 592 : 616) + 24);
      const rows = decodePcbList(buffer);
      expect(rows).toEqual([
        {
          localAddress: "127.0.0.1",
          localPort: 7900,
          remoteAddress: "127.0.0.1",
          remotePort: 52100,
          state: 4,
          uid: 501,
          pid: 400,
          effectivePid: 400,
        },
        {
          localAddress: "127.0.0.1",
          localPort: 52100,
          remoteAddress: "127.0.0.1",
          remotePort: 7900,
          state: 4,
          uid: 501,
          pid: 812,
          effectivePid: 812,
        },
        {
          localAddress: "::1",
          localPort: 52200,
          remoteAddress: "::1",
          remotePort: 7901,
          state: 4,
          uid: 502,
          pid: 913,
          effectivePid: 650,
        },
      ]);
    });

    test(`macOS ${macos}: the knocker is the socket whose local end is the accepted socket's remote end`, () => {
      const rows = decodePcbList(pcbList([listener(macos), browser(macos), v6(macos)]));
      expect(
        findKnocker(rows, { localAddress: "127.0.0.1", localPort: 7900, remoteAddress: "127.0.0.1", remotePort: 52100 })
          ?.pid,
      ).toBe(812);
      expect(
        findKnocker(rows, { localAddress: "::1", localPort: 7901, remoteAddress: "::1", remotePort: 52200 })?.pid,
      ).toBe(913);
      // The listener's view spelled as a mapped address still finds the IPv4 socket.
      expect(
        findKnocker(rows, {
          localAddress: "::ffff:127.0.0.1",
          localPort: 7900,
          remoteAddress: "::ffff:127.0.0.1",
          remotePort: 52100,
        })?.pid,
      ).toBe(812);
      expect(
        findKnocker(rows, {
          localAddress: "127.0.0.1",
          localPort: 7900,
          remoteAddress: "127.0.0.1",
          remotePort: 52101,
        }),
      ).toBeUndefined();
    });
  }

  test("with ports given, only the sockets with those ports are decoded (the rest of the buffer is still checked)", () => {
    const buffer = pcbList([listener(12), browser(12), v6(12)]);
    expect(decodePcbList(buffer, { localPort: 52100, remotePort: 7900 }).map((r) => r.pid)).toEqual([812]);
    expect(decodePcbList(buffer, { localPort: 1, remotePort: 2 })).toEqual([]);
    expect(() => decodePcbList(buffer.subarray(0, buffer.byteLength - 1), { localPort: 1, remotePort: 2 })).toThrow(
      PcbListError,
    );
  });

  test("an IPv6 socket connected to an IPv4-mapped address (inp_vflag IPV4|IPV6) reads as IPv4", () => {
    const rows = decodePcbList(pcbList([{ ...browser(13), vflag: 0x3 }]));
    expect(rows[0]?.localAddress).toBe("127.0.0.1");
  });

  test("records without the TCP part (a UDP list) have state -1", () => {
    const rows = decodePcbList(
      pcbList([
        { ...browser(13), tcp: false },
        { ...v6(13), tcp: false },
      ]),
    );
    expect(rows.map((r) => [r.pid, r.state])).toEqual([
      [812, -1],
      [913, -1],
    ]);
  });

  test("sockets with neither address family flag are skipped", () => {
    expect(decodePcbList(pcbList([{ ...browser(12), vflag: 0 }, listener(12)])).map((r) => r.pid)).toEqual([400]);
  });

  test("a list with no socket gives no rows", () => {
    expect(decodePcbList(pcbList([]))).toEqual([]);
  });

  test("a buffer cut anywhere (even between records) gives PcbListError, never a crash or a wrong row", () => {
    const whole = pcbList([listener(13), browser(13)]);
    expect(decodePcbList(whole)).toHaveLength(2);
    for (let cut = 0; cut < whole.byteLength; cut++) {
      expect(() => decodePcbList(whole.subarray(0, cut))).toThrow(PcbListError);
    }
  });

  test("unknown kinds and lengths are refused with a sentence naming what was found", () => {
    const record = pcbRecord(browser(13));
    const withKind = (at: number, value: number) => {
      const copy = record.slice();
      new DataView(copy.buffer).setUint32(at, value, true);
      return concat([xinpgen(1), copy, xinpgen(1)]);
    };
    expect(() => decodePcbList(withKind(4, 0x40))).toThrow(/kind 64, length 104: not an xinpcb_n/);
    expect(() => decodePcbList(withKind(104, 40))).toThrow(/xsocket_n has length 40/);
    expect(() => decodePcbList(withKind(104 + 104 + 64 + 4, 0))).toThrow(/xsockstat_n/);
    expect(() => decodePcbList(new Uint8Array(10))).toThrow(/shorter than its 24-byte header/);
    const badHeader = pcbList([browser(12)]);
    new DataView(badHeader.buffer).setUint32(0, 7, true);
    expect(() => decodePcbList(badHeader)).toThrow(/header gives its length as 7/);
    // A later record of another kind (the layout changed mid-buffer) is refused too.
    const second = concat([xinpgen(2), record, withKind(4, 0x2).subarray(24, 24 + record.byteLength), xinpgen(2)]);
    expect(() => decodePcbList(second)).toThrow(/record at byte 640 has kind 2/);
  });

  test("random bytes give rows or PcbListError, nothing else", () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 255;
    for (let i = 0; i < 300; i++) {
      const bytes = pcbList([browser(i % 2 ? 12 : 13)]);
      for (let j = 0; j < 6; j++) bytes[(random() * 3) % bytes.byteLength] = random();
      try {
        expect(Array.isArray(decodePcbList(bytes))).toBe(true);
      } catch (error) {
        expect(error).toBeInstanceOf(PcbListError);
      }
    }
  });
});

describe("libproc structures", () => {
  test("proc_bsdinfo gives pid, ppid, uid and the longer name when set", () => {
    expect(decodeBsdInfo(bsdInfo(812, 500, 501, "Google Chrome H"))).toEqual({
      pid: 812,
      ppid: 500,
      uid: 501,
      name: "Google Chrome H",
    });
    expect(decodeBsdInfo(bsdInfo(812, 500, 501, "Google Chrome H", "Google Chrome Helper"))?.name).toBe(
      "Google Chrome Helper",
    );
  });

  test("a short proc_bsdinfo (the process exited) is null", () => {
    expect(decodeBsdInfo(bsdInfo(1, 0, 0, "launchd").subarray(0, 135))).toBeNull();
    expect(decodeBsdInfo(new Uint8Array(0))).toBeNull();
  });

  test("PROC_PIDLISTFDS: only socket descriptors, whole entries within the length written", () => {
    const list = fdList([
      [0, 1],
      [3, 2],
      [4, 6],
      [7, 2],
      [9, 2],
    ]);
    expect(socketFds(list)).toEqual([3, 7, 9]);
    expect(socketFds(list, 8 * 4 + 5)).toEqual([3, 7]);
    expect(socketFds(new Uint8Array(3))).toEqual([]);
  });

  test("socket_fdinfo of a TCP socket, IPv4 and IPv6", () => {
    expect(
      decodeSocketFdInfo(
        socketFdInfo({ kind: 2, local: "127.0.0.1", localPort: 52100, remote: "127.0.0.1", remotePort: 7900 }),
      ),
    ).toEqual({
      localAddress: "127.0.0.1",
      localPort: 52100,
      remoteAddress: "127.0.0.1",
      remotePort: 7900,
      state: 4,
    });
    expect(
      decodeSocketFdInfo(
        socketFdInfo({ kind: 2, local: "::1", localPort: 443, remote: "fe80::1", remotePort: 65535, state: 1 }),
      ),
    ).toEqual({
      localAddress: "::1",
      localPort: 443,
      remoteAddress: "fe80::1",
      remotePort: 65535,
      state: 1,
    });
    expect(
      decodeSocketFdInfo(socketFdInfo({ kind: 1, local: "127.0.0.1", localPort: 53, remote: "0.0.0.0", remotePort: 0 }))
        ?.state,
    ).toBe(-1);
  });

  test("socket_fdinfo of another kind, or cut short, is null", () => {
    expect(
      decodeSocketFdInfo(
        socketFdInfo({ kind: 3, local: "127.0.0.1", localPort: 1, remote: "127.0.0.1", remotePort: 2 }),
      ),
    ).toBeNull();
    expect(
      decodeSocketFdInfo(
        socketFdInfo({ kind: 2, local: "127.0.0.1", localPort: 1, remote: "127.0.0.1", remotePort: 2 }).subarray(
          0,
          791,
        ),
      ),
    ).toBeNull();
  });
});
