// One contract, run against every knock transport, on real sockets bound to 127.0.0.1.
import { describe, expect, test } from "bun:test";
import { transports } from "../../../plugins/transport/index.ts";
import { findFreePort } from "../../../src/lib/ports.ts";
import { onCleanup } from "../../helpers.ts";

/** A listener that records each connection and closes it after `holdMs`, as the service does after attribution. */
function listener(holdMs: number) {
  const accepted: number[] = [];
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        accepted.push(socket.remotePort);
        setTimeout(() => socket.end(), holdMs);
      },
      data() {},
    },
  });
  onCleanup(() => server.stop(true));
  return { port: server.port, accepted };
}

for (const [name, transport] of Object.entries(transports)) {
  describe(`transport contract: ${name}`, () => {
    test("a knock reaches the listener and ends when the listener closes", async () => {
      const { port, accepted } = listener(30);
      const result = await transport.knock({ host: "127.0.0.1", port }, AbortSignal.timeout(5000));
      expect(accepted.length).toBeGreaterThanOrEqual(1);
      expect(result.port).toBe(port);
      expect(result.landed).not.toBe(false);
    });

    test("a knock on a port nobody holds does not land and does not throw", async () => {
      const port = findFreePort();
      const result = await transport.knock({ host: "127.0.0.1", port }, AbortSignal.timeout(5000));
      expect(result.landed).not.toBe(true);
    });

    test("a listener that never closes is let go when the signal aborts", async () => {
      const { port, accepted } = listener(60_000);
      const result = await transport.knock({ host: "127.0.0.1", port }, AbortSignal.timeout(300));
      expect(accepted.length).toBeGreaterThanOrEqual(1);
      expect(result.port).toBe(port);
    });

    test("an already aborted signal knocks nothing", async () => {
      const { port, accepted } = listener(10);
      await transport.knock({ host: "127.0.0.1", port }, AbortSignal.abort());
      await Bun.sleep(100);
      expect(accepted.length).toBe(0);
    });
  });
}

test("tcp tells a refused port from a landed one", async () => {
  const { port } = listener(10);
  expect((await transports.tcp.knock({ host: "127.0.0.1", port }, AbortSignal.timeout(5000))).landed).toBe(true);
  const closed = await transports.tcp.knock({ host: "127.0.0.1", port: findFreePort() }, AbortSignal.timeout(5000));
  expect(closed.landed).toBe(false);
  expect(closed.error).toContain("127.0.0.1");
});
