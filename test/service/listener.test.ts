// The port listener: connections over its cap are closed at once, and the operator is told how many.
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
