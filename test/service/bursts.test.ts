// Grouping knocks by process: complete bursts at once, incomplete ones after the idle gap, duplicates ignored.
import { describe, expect, test } from "bun:test";
import type { ProcessInfo } from "../../src/protocol/schemas.ts";
import { type Burst, createBurstTracker } from "../../src/service/bursts.ts";

const proc = (pid: number): ProcessInfo => ({ pid, ppid: 1, uid: 1000, user: "ana", exe: "/bin/x", name: "x" });

function tracker(knocks = 4, idleMs = 50) {
  const bursts: Burst[] = [];
  const t = createBurstTracker({ knocks, idleMs, onBurst: (b) => bursts.push(b) });
  return { t, bursts };
}

describe("bursts", () => {
  test("a complete burst is reported at once, ports sorted and de-duplicated", () => {
    const { t, bursts } = tracker();
    for (const port of [4, 2, 2, 3, 2, 1]) t.add(proc(10), port);
    expect(bursts).toEqual([{ process: proc(10), ports: [1, 2, 3, 4], uncertain: [], reason: "complete" }]);
  });

  test("knocks of different processes never mix", () => {
    const { t, bursts } = tracker();
    for (const port of [1, 2, 3]) {
      t.add(proc(10), port);
      t.add(proc(20), port + 100);
    }
    t.add(proc(20), 104);
    t.add(proc(10), 4);
    expect(bursts.map((b) => [b.process.pid, b.ports])).toEqual([
      [20, [101, 102, 103, 104]],
      [10, [1, 2, 3, 4]],
    ]);
  });

  test("knocks of one process are grouped by the origin they carry: another tab's noise, with another origin or none, never joins", () => {
    const { t, bursts } = tracker();
    const page = "https://saas.example";
    // One browser process: the page knocks 1-4 with its origin, interleaved with noise on the same ports and others.
    for (const port of [1, 2, 3]) {
      t.add(proc(10), port + 50, "https://noise.example");
      t.add(proc(10), port + 60);
      t.add(proc(10), port, page);
    }
    t.add(proc(10), 4, page);
    expect(bursts).toEqual([
      { process: proc(10), origin: page, ports: [1, 2, 3, 4], uncertain: [], reason: "complete" },
    ]);
    t.flushAll();
    expect(bursts.map((b) => [b.origin, b.ports])).toEqual([
      [page, [1, 2, 3, 4]],
      ["https://noise.example", [51, 52, 53]],
      [undefined, [61, 62, 63]],
    ]);
  });

  test("an incomplete burst is still reported after the idle gap", async () => {
    const { t, bursts } = tracker(4, 40);
    t.add(proc(10), 1);
    t.add(proc(10), 2);
    expect(bursts).toEqual([]);
    await Bun.sleep(120);
    expect(bursts).toEqual([{ process: proc(10), ports: [1, 2], uncertain: [], reason: "idle" }]);
  });

  test("stopping flushes every open burst so nothing is lost", () => {
    const { t, bursts } = tracker();
    t.add(proc(10), 1);
    t.add(proc(20), 2);
    t.flushAll();
    expect(bursts.map((b) => [b.process.pid, b.reason])).toEqual([
      [10, "stopped"],
      [20, "stopped"],
    ]);
  });

  test("a browser's retry of a reported burst is not a new burst", async () => {
    const { t, bursts } = tracker(4, 40);
    for (const port of [1, 2, 3, 4]) t.add(proc(10), port);
    for (const port of [1, 2, 3, 4]) t.add(proc(10), port); // the retries
    await Bun.sleep(120);
    expect(bursts.length).toBe(1);
  });

  test("a new code that reuses a just-reported port counts it as uncertain, not lost", async () => {
    const { t, bursts } = tracker(4, 40);
    for (const port of [1, 2, 3, 4]) t.add(proc(10), port);
    for (const port of [4, 7, 8, 9]) t.add(proc(10), port); // 4 is set aside as a possible retry
    await Bun.sleep(120);
    expect(bursts[1]).toMatchObject({ ports: [7, 8, 9], uncertain: [4], reason: "idle" });
  });

  test("the number of processes tracked is bounded", () => {
    const bursts: Burst[] = [];
    const t = createBurstTracker({ knocks: 4, idleMs: 10_000, maxProcesses: 8, onBurst: (b) => bursts.push(b) });
    for (let pid = 1; pid <= 20; pid++) t.add(proc(pid), 1);
    expect(bursts.length).toBe(12); // the oldest were flushed early to stay within 8
    t.flushAll();
    expect(bursts.length).toBe(20);
  });
});

test("a burst too small to link waits longer than the idle gap for the rest of its code", async () => {
  const bursts: Burst[] = [];
  const t = createBurstTracker({ knocks: 12, idleMs: 30, minPorts: 9, lingerMs: 400, onBurst: (b) => bursts.push(b) });
  for (const port of [1, 2, 3, 4]) t.add(proc(10), port);
  await Bun.sleep(120); // a loaded machine: the next tuple comes well after the idle gap
  expect(bursts).toEqual([]);
  for (const port of [5, 6, 7, 8, 9, 10, 11, 12]) t.add(proc(10), port);
  expect(bursts).toEqual([
    { process: proc(10), ports: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], uncertain: [], reason: "complete" },
  ]);
});

test("a small burst is still reported once the longer gap passes", async () => {
  const bursts: Burst[] = [];
  const t = createBurstTracker({ knocks: 12, idleMs: 30, minPorts: 9, lingerMs: 100, onBurst: (b) => bursts.push(b) });
  t.add(proc(10), 1);
  await Bun.sleep(250);
  expect(bursts.map((b) => b.reason)).toEqual(["idle"]);
});

describe("a code whose knocks come spread out (a browser's WebSocket reconnect back-off)", () => {
  const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  test("with every port held, ten of twelve knocks are not reported after the idle gap: the rest join them", async () => {
    const bursts: Burst[] = [];
    const t = createBurstTracker({
      knocks: 12,
      idleMs: 30,
      minPorts: 9,
      missable: 0,
      lingerMs: 600,
      onBurst: (b) => bursts.push(b),
    });
    for (const port of ten) t.add(proc(10), port);
    await Bun.sleep(150);
    expect(bursts).toEqual([]);
    t.add(proc(10), 11);
    t.add(proc(10), 12);
    expect(bursts.map((b) => [b.ports.length, b.reason])).toEqual([[12, "complete"]]);
  });

  test("with two ports unbound, ten knocks may be a whole code: reported after the idle gap", async () => {
    const bursts: Burst[] = [];
    const t = createBurstTracker({
      knocks: 12,
      idleMs: 30,
      minPorts: 9,
      missable: 2,
      lingerMs: 600,
      onBurst: (b) => bursts.push(b),
    });
    for (const port of ten) t.add(proc(10), port);
    await Bun.sleep(150);
    expect(bursts.map((b) => [b.ports.length, b.reason])).toEqual([[10, "idle"]]);
  });

  test("ports set aside as repeats of the previous burst count as possibly missing too", async () => {
    const bursts: Burst[] = [];
    const t = createBurstTracker({
      knocks: 4,
      idleMs: 30,
      minPorts: 3,
      missable: 0,
      lingerMs: 600,
      onBurst: (b) => bursts.push(b),
    });
    for (const port of [1, 2, 3, 4]) t.add(proc(10), port);
    t.add(proc(10), 5);
    t.add(proc(10), 4); // a repeat of the last burst, or the new code's: uncertain
    t.add(proc(10), 6);
    t.add(proc(10), 7);
    await Bun.sleep(150);
    expect(bursts.map((b) => [b.ports, b.uncertain, b.reason])).toEqual([
      [[1, 2, 3, 4], [], "complete"],
      [[5, 6, 7], [4], "idle"],
    ]);
  });
});
