// The CLI's knock transports (tcp, http, ws) under the transport contract, in Bun; the browser's four run it in Chromium (test/browser/transports.test.ts).
import { expect, test } from "bun:test";
import { transports } from "../../../plugins/transport/index.ts";
import { findFreePort } from "../../../src/lib/ports.ts";
import { type Abort, transportContract } from "./contract.ts";

const signalOf = (abort: Abort) => ("already" in abort ? AbortSignal.abort() : AbortSignal.timeout(abort.afterMs));

for (const transport of Object.values(transports)) {
  transportContract(transport.name, {
    setup: async () => ({
      name: transport.name,
      knock: (target, abort) => transport.knock(target, signalOf(abort)),
      // The CLI states the origin it is given, as the page's browser would.
      statedOrigin: (given) => given,
    }),
  });
}

test("tcp tells a refused port from a landed one", async () => {
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: { open: (socket) => void setTimeout(() => socket.end(), 10), data() {} },
  });
  try {
    expect(
      (await transports.tcp.knock({ host: "127.0.0.1", port: server.port }, AbortSignal.timeout(5000))).landed,
    ).toBe(true);
  } finally {
    server.stop(true);
  }
  const closed = await transports.tcp.knock({ host: "127.0.0.1", port: findFreePort() }, AbortSignal.timeout(5000));
  expect(closed.landed).toBe(false);
  expect(closed.error).toContain("127.0.0.1");
});

test("tcp says when its connection is open, before the listener closes it", async () => {
  const order: string[] = [];
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: { open: (socket) => void setTimeout(() => (order.push("closed"), socket.end()), 300), data() {} },
  });
  try {
    const result = await transports.tcp.knock({ host: "127.0.0.1", port: server.port }, AbortSignal.timeout(5000), {
      landed: () => void order.push("landed"),
    });
    expect(order).toEqual(["landed", "closed"]);
    expect(result.landed).toBe(true);
  } finally {
    server.stop(true);
  }
});
