// The Attributor seam's contract, run against every backend this machine can run (here: Linux, with the
// netlink lookup and with the /proc tables). macOS and Windows backends cannot run on Linux: their
// decoders are tested on header-exact buffers and the Windows one end to end under Wine (test/e2e).
import { describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { linuxAttributor } from "../../../src/service/attribution/linux/attributor.ts";
import type { Attributor, KnockSocket, ProcessInfo } from "../../../src/service/attribution/types.ts";
import { onCleanup } from "../../helpers.ts";

const BACKENDS: Record<string, () => Attributor> = {
  "linux (netlink sock_diag)": () => linuxAttributor({ sockDiag: true }),
  "linux (/proc/net/tcp)": () => linuxAttributor({ sockDiag: false }),
};

const knockOf = (s: Socket<unknown>): KnockSocket => ({
  localAddress: s.localAddress,
  localPort: s.localPort,
  remoteAddress: s.remoteAddress,
  remotePort: s.remotePort,
});

/** A listener that attributes every accepted connection while holding it open, as the service does. */
function listener(attributor: Attributor, hostname = "127.0.0.1") {
  const found: Promise<ProcessInfo | null>[] = [];
  const server: TCPSocketListener<unknown> = Bun.listen({
    hostname,
    port: 0,
    socket: {
      open(socket) {
        found.push(attributor.attribute(knockOf(socket)).finally(() => socket.end()));
      },
      data() {},
      error() {},
    },
  });
  onCleanup(() => server.stop(true));
  return { port: server.port, found };
}

/** A separate process that opens `count` connections to `port` and holds them until told to go. */
function knocker(port: number, count: number, hostname = "127.0.0.1") {
  const script = `const s=[];for(let i=0;i<${count};i++)s.push(await Bun.connect({hostname:${JSON.stringify(hostname)},port:${port},socket:{data(){},error(){}}}));console.log("ok");await Bun.sleep(30000);`;
  const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
  onCleanup(() => void (child.exitCode === null && child.kill("SIGKILL")));
  return child;
}

const until = async (check: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await Bun.sleep(10);
};

for (const [name, make] of Object.entries(BACKENDS)) {
  describe(`attributor contract: ${name}`, () => {
    test("names the other process that made the connection: pid, parent, uid, user, executable", async () => {
      const server = listener(make());
      const child = knocker(server.port, 1);
      await until(() => server.found.length === 1);
      const info = await server.found[0]!;
      expect(info).not.toBeNull();
      expect(info!.pid).toBe(child.pid);
      expect(info!.ppid).toBe(process.pid);
      expect(info!.uid).toBe(process.getuid!());
      expect(info!.user.length).toBeGreaterThan(0);
      expect(info!.exe).toBe(process.execPath);
    });

    test("many connections of one process at once: every one is named, none mixed up", async () => {
      const server = listener(make());
      const a = knocker(server.port, 12);
      const b = knocker(server.port, 12);
      await until(() => server.found.length === 24);
      const pids = (await Promise.all(server.found)).map((p) => p?.pid);
      expect(pids.filter((p) => p === a.pid)).toHaveLength(12);
      expect(pids.filter((p) => p === b.pid)).toHaveLength(12);
    });

    test("IPv6 loopback is attributed too", async () => {
      const server = listener(make(), "::1");
      const child = knocker(server.port, 1, "::1");
      await until(() => server.found.length === 1);
      expect((await server.found[0]!)?.pid).toBe(child.pid);
    });

    test("a socket that is not there settles null, without throwing", async () => {
      const attributor = make();
      const ghost = { localAddress: "127.0.0.1", localPort: 1, remoteAddress: "127.0.0.1", remotePort: 2 };
      expect(await attributor.attribute(ghost)).toBeNull();
    });
  });
}
