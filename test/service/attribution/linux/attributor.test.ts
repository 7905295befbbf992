// Linux attribution against real loopback sockets and real processes, plus a crafted procfs for the parser.
import { afterEach, describe, expect, test } from "bun:test";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { Socket, TCPSocketListener } from "bun";
import { createAttributor } from "../../../../src/service/attribution/index.ts";
import {
  type Attributor,
  canonicalAddress,
  type KnockSocket,
  linuxAttributor,
  linuxAttributor as makeAttributor,
  parseTcpLine,
  type ProcessInfo,
} from "../../../../src/service/attribution/linux/attributor.ts";
import { openSockDiag } from "../../../../src/service/attribution/linux/sock-diag.ts";
import { UnsupportedPlatformError } from "../../../../src/lib/errors.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      cleanup();
    } catch {
      // already gone
    }
  }
});

function knockOf(s: Socket<unknown>): KnockSocket {
  return {
    localAddress: s.localAddress,
    localPort: s.localPort,
    remoteAddress: s.remoteAddress,
    remotePort: s.remotePort,
  };
}

/** A listener that attributes every connection on accept and closes it once attribution settles. */
function knockListener(attributor: Attributor, hostname = "127.0.0.1") {
  const results: Promise<ProcessInfo | null>[] = [];
  const listener: TCPSocketListener<unknown> = Bun.listen({
    hostname,
    port: 0,
    socket: {
      open(s) {
        const result = attributor.attribute(knockOf(s));
        results.push(result);
        result.finally(() => s.end()).catch(() => {});
      },
      data() {},
      error() {},
    },
  });
  cleanups.push(() => listener.stop(true));
  /** The attributions of the first n connections, once n have been accepted. */
  const accepted = async (n: number) => {
    for (let waited = 0; results.length < n; waited += 5) {
      if (waited > 5000) throw new Error(`only ${results.length} of ${n} connections accepted`);
      await Bun.sleep(5);
    }
    return Promise.all(results.slice(0, n));
  };
  return { port: listener.port, accepted };
}

/** A child Bun process that opens `count` connections at once and exits when the server closed them all. */
function spawnKnocker(port: number, count: number) {
  const script = `
    let closed = 0;
    const socket = { data() {}, close() { if (++closed === ${count}) process.exit(0); }, error() {} };
    await Promise.all(Array.from({ length: ${count} }, () => Bun.connect({ hostname: "127.0.0.1", port: ${port}, socket })));
    setTimeout(() => process.exit(3), 10000);
  `;
  const child = Bun.spawn([process.execPath, "-e", script], { stdout: "ignore", stderr: "inherit" });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, "SIGKILL");
  });
  return child;
}

describe.each([
  ["netlink", true],
  ["/proc/net/tcp", false],
])("linuxAttributor with real processes, sockets looked up via %s", (_lookup, sockDiag) => {
  const linuxAttributor = (options: Parameters<typeof makeAttributor>[0] = {}) =>
    makeAttributor({ sockDiag, ...options });
  // not os.userInfo(): Bun 1.4.5 reports username "unknown" when $USER is unset
  const me = {
    uid: process.getuid?.() ?? -1,
    username: Bun.spawnSync(["id", "-un"]).stdout.toString().trim(),
  };

  test("a child process is attributed with its pid, uid, user, name and exe", async () => {
    const server = knockListener(linuxAttributor());
    const child = spawnKnocker(server.port, 1);
    const [info] = await server.accepted(1);
    expect(info).toEqual({
      pid: child.pid,
      ppid: process.pid,
      uid: me.uid,
      user: me.username,
      exe: realpathSync(process.execPath),
      name: basename(realpathSync(process.execPath)).slice(0, 15),
    });
    expect(await child.exited).toBe(0);
  });

  test("a burst of 12 concurrent connections is attributed to the child", async () => {
    const server = knockListener(linuxAttributor());
    const child = spawnKnocker(server.port, 12);
    const infos = await server.accepted(12);
    expect(infos.map((i) => i?.pid)).toEqual(new Array(12).fill(child.pid));
    expect(await child.exited).toBe(0);
  });

  test("a connection from this process is attributed to process.pid", async () => {
    const server = knockListener(linuxAttributor());
    const client = await Bun.connect({ hostname: "127.0.0.1", port: server.port, socket: { data() {} } });
    cleanups.push(() => client.terminate());
    const [info] = await server.accepted(1);
    expect(info?.pid).toBe(process.pid);
  });

  test.each([
    ["::1", "::1"],
    ["a dual-stack listener (IPv4-mapped peer)", "127.0.0.1"],
  ])("IPv6: %s", async (label, connectTo) => {
    const server = knockListener(linuxAttributor(), label === "::1" ? "::1" : "::");
    const client = await Bun.connect({ hostname: connectTo, port: server.port, socket: { data() {} } });
    cleanups.push(() => client.terminate());
    const [info] = await server.accepted(1);
    expect(info?.pid).toBe(process.pid);
  });

  test("a knock whose peer already closed resolves null", async () => {
    let accepted: KnockSocket | undefined;
    let peerClosed = () => {};
    const closed = new Promise<void>((r) => (peerClosed = r));
    const listener = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: { open: (s) => void (accepted = knockOf(s)), data() {}, close: () => peerClosed(), error() {} },
    });
    cleanups.push(() => listener.stop(true));
    const client = await Bun.connect({ hostname: "127.0.0.1", port: listener.port, socket: { data() {} } });
    client.terminate();
    await closed;
    expect(accepted).toBeDefined();
    const attributor = linuxAttributor();
    expect(await attributor.attribute(accepted!)).toBeNull();
    // a connection that never existed
    expect(await attributor.attribute({ ...accepted!, remotePort: 1 })).toBeNull();
  });
});

// Crafted rows of a fake /proc/net/tcp (text, no socket), knocking port 27000 = 0x6978. 4307 = 0x10D3 and 43076 = 0xA844: the prototype's regex on ":4307" matched both.
const V4_4307 =
  "   1: 0100007F:10D3 0100007F:6978 01 00000000:00000000 00:00000000 00000000  1000        0 222 1 0000000000000000 20 4 30 10 -1";
const V4_43076 =
  "   0: 0100007F:A844 0100007F:6978 01 00000000:00000000 00:00000000 00000000  1000        0 111 1 0000000000000000 20 4 30 10 -1";
const V6_LOOPBACK =
  "   0: 00000000000000000000000001000000:10D3 00000000000000000000000001000000:6978 01 00000000:00000000 00:00000000 00000000  1000        0 333 1 0000000000000000 20 4 0 10 -1";
const V6_MAPPED =
  "   1: 0000000000000000FFFF00000100007F:10D3 0000000000000000FFFF00000100007F:6978 01 00000000:00000000 00:00000000 00000000  1000        0 444 1 0000000000000000 20 4 0 10 -1";
const HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

describe("parseTcpLine", () => {
  test("parses ports as numbers, so 4307 and 43076 stay distinct", () => {
    expect(parseTcpLine(V4_4307, true)).toEqual({
      localAddress: "127.0.0.1",
      localPort: 4307,
      remoteAddress: "127.0.0.1",
      remotePort: 27000,
      state: 1,
      uid: 1000,
      inode: 222,
    });
    expect(parseTcpLine(V4_43076, true)?.localPort).toBe(43076);
  });

  test("reads IPv4 words in host byte order", () => {
    expect(parseTcpLine(V4_4307.replaceAll("0100007F", "7F000001"), false)?.localAddress).toBe("127.0.0.1");
    expect(parseTcpLine(V4_4307.replace("0100007F", "0A00A8C0"), true)?.localAddress).toBe("192.168.0.10");
  });

  test("parses IPv6 loopback and IPv4-mapped rows", () => {
    expect(parseTcpLine(V6_LOOPBACK, true)).toMatchObject({
      localAddress: "::1",
      localPort: 4307,
      remoteAddress: "::1",
      inode: 333,
    });
    expect(parseTcpLine(V6_MAPPED, true)).toMatchObject({
      localAddress: "127.0.0.1",
      remoteAddress: "127.0.0.1",
      inode: 444,
    });
  });

  test("rejects the header and malformed lines", () => {
    for (const line of [
      HEADER,
      "",
      "garbage",
      V4_4307.replace(":10D3", ":10D"),
      V4_4307.replace("0100007F:10D3", "0100007:10D3"),
    ]) {
      expect(parseTcpLine(line, true)).toBeNull();
    }
  });

  test("canonicalAddress gives one spelling per address", () => {
    expect(canonicalAddress("::ffff:127.0.0.1")).toBe("127.0.0.1");
    expect(canonicalAddress("0:0:0:0:0:0:0:1")).toBe("::1");
    expect(canonicalAddress("[::1]")).toBe("::1");
    expect(canonicalAddress("FE80:0:0:0:1:0:0:1%lo")).toBe("fe80::1:0:0:1");
    expect(canonicalAddress("127.0.0.1")).toBe("127.0.0.1");
    expect(canonicalAddress("not an address")).toBe("not an address");
  });
});

describe("linuxAttributor on a crafted procfs", () => {
  type Holder = readonly [pid: number, inode: number, comm: string];

  /** A fake /proc: the crafted rows, a process per holder, and `fillers` processes holding no socket. */
  function fakeProc(holders: Holder[], fillers = 0): string {
    // tmpfs when there is one: a thousand small files on a busy disk take seconds
    const root = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "pkipc-proc-"));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    mkdirSync(join(root, "net"));
    const uid = process.getuid?.() ?? 0;
    const lines = [V4_43076, V4_4307, V6_LOOPBACK].map((l) => l.replace(" 1000 ", ` ${uid} `));
    writeFileSync(join(root, "net/tcp"), [HEADER, lines[0], lines[1], ""].join("\n"));
    writeFileSync(join(root, "net/tcp6"), [HEADER, lines[2], ""].join("\n"));
    const fillerHolders = Array.from({ length: fillers }, (_, i): Holder => [1000 + i, 0, "filler"]);
    for (const [pid, inode, comm] of [...holders, ...fillerHolders]) {
      mkdirSync(join(root, `${pid}/fd`), { recursive: true });
      symlinkSync("/dev/null", join(root, `${pid}/fd/0`));
      symlinkSync(`socket:[${inode}]`, join(root, `${pid}/fd/3`));
      symlinkSync(`/usr/bin/${comm}`, join(root, `${pid}/exe`));
      writeFileSync(join(root, `${pid}/comm`), `${comm}\n`);
      writeFileSync(join(root, `${pid}/stat`), `${pid} (${comm}) S 77 ${pid} ${pid} 0 -1 4194560 0 0\n`);
    }
    writeFileSync(join(root, "passwd"), `someone:x:${uid}:${uid}::/home/someone:/bin/sh\n`);
    return root;
  }
  const knock = { localAddress: "127.0.0.1", localPort: 27000, remoteAddress: "127.0.0.1", remotePort: 4307 };

  test("a knock from port 4307 is not confused with port 43076; comm with ') (' still gives ppid", async () => {
    const root = fakeProc([
      [200, 111, "wrong"],
      [300, 222, "a) (b"],
      [400, 333, "six"],
    ]);
    const attributor = linuxAttributor({ procRoot: root, passwdPath: join(root, "passwd") });
    expect(await attributor.attribute(knock)).toEqual({
      pid: 300,
      ppid: 77,
      uid: process.getuid?.() ?? 0,
      user: "someone",
      exe: "/usr/bin/a) (b",
      name: "a) (b",
    });
    const [v6, gone] = await Promise.all([
      attributor.attribute({ ...knock, localAddress: "::1", remoteAddress: "0::1" }),
      attributor.attribute({ ...knock, remotePort: 4306 }),
    ]);
    expect(v6?.pid).toBe(400);
    expect(gone).toBeNull();
  });

  test("a knock that lands while a long scan runs is attributed too", async () => {
    // the scan visits the newest pid (5000) first; the 43076 knock joins after it has moved on
    const root = fakeProc(
      [
        [5000, 111, "late"],
        [300, 222, "early"],
      ],
      1000,
    );
    const attributor = linuxAttributor({ procRoot: root, passwdPath: join(root, "passwd") });
    const early = attributor.attribute(knock);
    await new Promise((r) => setImmediate(r));
    const late = attributor.attribute({ ...knock, remotePort: 43076 });
    expect([(await early)?.pid, (await late)?.pid]).toEqual([300, 5000]);
  });

  test("an unreadable table rejects with a typed error", async () => {
    const attributor = linuxAttributor({ procRoot: join(tmpdir(), "pkipc-no-such-proc") });
    await expect(attributor.attribute(knock)).rejects.toMatchObject({ code: "ATTRIBUTION" });
  });
});

describe("createAttributor", () => {
  test("gives the Linux attributor on Linux and a typed error elsewhere", () => {
    expect(createAttributor("linux").name).toBe("linux-procfs");
    expect(() => createAttributor("freebsd")).toThrow(UnsupportedPlatformError);
  });
});

describe("sock_diag lookup", () => {
  /** The inode and uid /proc/net/tcp{,6} shows for a socket with these ends (the slow way, for comparison). */
  function tableRow(localPort: number, remotePort: number) {
    for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
      for (const line of readFileSync(table, "latin1").split("\n")) {
        const row = parseTcpLine(line);
        if (row?.localPort === localPort && row.remotePort === remotePort) return { uid: row.uid, inode: row.inode };
      }
    }
    return undefined;
  }

  test.each([
    ["IPv4", "127.0.0.1", "127.0.0.1"],
    ["::1", "::1", "::1"],
    ["an IPv6 socket connected to ::ffff:127.0.0.1", "::", "::ffff:127.0.0.1"],
  ])(
    "%s: finds the socket's owner as /proc/net/tcp has it, and nothing for a pair that does not exist",
    async (_label, listenOn, connectTo) => {
      const diag = openSockDiag();
      expect(diag).toBeDefined();
      cleanups.push(() => diag!.close());
      const listener = Bun.listen({ hostname: listenOn, port: 0, socket: { data() {}, error() {} } });
      cleanups.push(() => listener.stop(true));
      const client = await Bun.connect({ hostname: connectTo, port: listener.port, socket: { data() {} } });
      cleanups.push(() => client.terminate());
      const ends = {
        localAddress: canonicalAddress(client.localAddress),
        localPort: client.localPort,
        remoteAddress: canonicalAddress(client.remoteAddress),
        remotePort: listener.port,
      };
      const owner = diag!.find(ends);
      expect(owner).toEqual(tableRow(client.localPort, listener.port)!);
      expect(owner!.inode).toBeGreaterThan(0);
      expect(diag!.find({ ...ends, localPort: ends.localPort === 65535 ? 1 : ends.localPort + 1 })).toBeNull();
    },
  );
});
