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
  const connect = (i: number, head?: string) =>
    Bun.connect({
      hostname: "127.0.0.1",
      port: range.start + (i % 2),
      socket: {
        open: (s) => void (head && s.write(head)),
        data() {},
        close: () => void (closed[i] = true),
        error() {},
      },
    });
  // Two knocks that sent their head fill the cap; three more find no silent one to make room.
  const sockets = [await connect(0, "GET / HTTP/1.1\r\n"), await connect(1, "GET / HTTP/1.1\r\n")];
  await eventually(() => knocked.length === 2, "two knocks held");
  await Bun.sleep(50); // their heads are read
  sockets.push(...(await Promise.all([2, 3, 4].map((i) => connect(i)))));
  onCleanup(() => sockets.forEach((s) => s.end()));
  await eventually(
    () => knocked.length === 2 && closed.filter(Boolean).length === 3,
    "two knocks held and three closed",
  );
  expect(closed[0] ?? closed[1]).toBeUndefined();
  expect(lines).toEqual([]); // told at most once per period, not per connection
  listener.stop(); // stopping reports what is pending
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain("closed 3 connections unattributed");
  expect(lines[0]).toContain("more than 2 were open at once");
});

test("at the cap, the oldest connection that has sent nothing makes room for a new one: idle junk cannot crowd out knocks", async () => {
  const range = findFreeRange(2);
  const knocked: number[] = [];
  const listener = listenOnRange({
    range,
    maxOpen: 2,
    log: createLogger({ level: "error", write: () => {} }),
    onKnock: async (socket, origin) => void (knocked.push(socket.localPort), await origin),
  });
  onCleanup(() => listener.stop());
  const closed: boolean[] = [];
  const connect = (i: number, head?: string) =>
    Bun.connect({
      hostname: "127.0.0.1",
      port: range.start + (i % 2),
      socket: {
        open: (s) => void (head && s.write(head)),
        data() {},
        close: () => void (closed[i] = true),
        error() {},
      },
    });
  const idle = [await connect(0), await connect(1)];
  await eventually(() => knocked.length === 2, "two idle connections held");
  const knock = await connect(2, "GET / HTTP/1.1\r\nOrigin: https://saas.example\r\n\r\n");
  onCleanup(() => [...idle, knock].forEach((s) => s.end()));
  await eventually(() => knocked.length === 3 && closed[0] === true, "the oldest idle one closed, the knock taken");
  expect(closed[1]).toBeUndefined();
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
  expect([...origins.entries()].sort((a, b) => a[0] - b[0]).map(([, o]) => o)).toEqual([
    "https://saas.example",
    undefined,
    undefined,
    undefined,
  ]);
});
