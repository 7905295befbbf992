// The port listener: connections over its cap are closed at once, and the operator is told how many; each knock's origin is read from its first bytes.
import { expect, test } from "bun:test";
import { createLogger } from "../../src/lib/log.ts";
import { findFreeRange } from "../../src/lib/ports.ts";
import { listenOnRange } from "../../src/service/listener.ts";
import { eventually, onCleanup } from "../helpers.ts";

test("past maxOpen, connections are closed unattributed and the drop is logged once, with the count", async () => {
  const lines: string[] = [];
  const range = findFreeRange(2);
  const knocked: number[] = [];
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  const listener = listenOnRange({
    range,
    maxOpen: 2,
    log: createLogger({ level: "warn", write: (line) => lines.push(line) }),
    onKnock: (socket) => (knocked.push(socket.localPort), held), // holds every knock until released
  });
  onCleanup(() => (release(), listener.stop()));
  const closed: boolean[] = [];
  const sockets = await Promise.all(
    Array.from({ length: 5 }, (_, i) =>
      Bun.connect({
        hostname: "127.0.0.1",
        port: range.start + (i % 2),
        socket: { data() {}, close: () => void (closed[i] = true), error() {} },
      }),
    ),
  );
  onCleanup(() => sockets.forEach((s) => s.end()));
  await eventually(() => knocked.length === 2 && closed.filter(Boolean).length === 3, "two knocks held and three closed");
  expect(lines).toEqual([]); // told at most once per period, not per connection
  listener.stop(); // stopping reports what is pending
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain("closed 3 connections unattributed");
  expect(lines[0]).toContain("more than 2 were open at once");
});

test("each knock's origin is read from its first bytes while it is held: an HTTP head's Origin, none for TLS, silence or a close", async () => {
  const range = findFreeRange(4);
  const origins = new Map<number, string | undefined>();
  const listener = listenOnRange({
    range,
    headMs: 300,
    log: createLogger({ level: "error", write: () => {} }),
    // attribution would run here; the origin settles on its own
    onKnock: async (socket, origin) => void origins.set(socket.localPort, await origin),
  });
  onCleanup(() => listener.stop());
  const send = (port: number, bytes: string | undefined, close = false) =>
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          if (bytes !== undefined) s.write(bytes);
          if (close) s.end();
        },
        data() {},
        error() {},
      },
    });
  const sockets = await Promise.all([
    send(range.start, "GET / HTTP/1.1\r\nHost: x\r\nOrigin: https://saas.example\r\n\r\n"),
    send(range.start + 1, "\x16\x03\x01\x00\x05hello"),
    send(range.start + 2, undefined), // silent: decided at headMs
    send(range.start + 3, "GET / HTTP/1.1\r\nOrigin: https://saas.example", true), // cut off, then closed
  ]);
  onCleanup(() => sockets.forEach((s) => s.end()));
  await eventually(() => origins.size === 4, "four knocks settled", 3000);
  expect([...origins.entries()].sort((a, b) => a[0] - b[0]).map(([, o]) => o)).toEqual(["https://saas.example", undefined, undefined, undefined]);
});
