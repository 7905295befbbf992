// The memory store: frozen records handed out without copies, a configurable ceiling, and a port index that stays right.
import { expect, test } from "bun:test";
import { CapacityError } from "../../../../src/lib/errors.ts";
import { drawCode, randomId } from "../../../../src/protocol/code.ts";
import { memoryStore } from "../../../../src/server/state/memory/sessions.ts";
import type { SessionRecord } from "../../../../src/server/state/types.ts";

const RANGE = { start: 29170, end: 29233 };
const record = (overrides: Partial<SessionRecord> = {}): SessionRecord => ({
  id: randomId(16),
  tuples: drawCode(RANGE, { tuples: 3, portsPerTuple: 4 }),
  createdAt: Date.now(),
  expiresAt: Date.now() + 60_000,
  state: "pending",
  version: 0,
  address: "127.0.0.1",
  instructions: [],
  ...overrides,
});

/** Never called: it compiles only while every mutation below is refused by the record's types (tsc checks tests). */
export function recordsAreReadonly(read: SessionRecord): void {
  // @ts-expect-error a record's fields are readonly
  read.state = "linked";
  // @ts-expect-error so are its tuples
  read.tuples[0]![0] = 1;
  // @ts-expect-error and its instruction list
  read.instructions.push({ id: "x", name: "x", args: {}, state: "queued" });
  // @ts-expect-error and what it says of the process
  read.process!.pid = 1;
}

test("a record read back is a value: a change is a new record replaced by version, and earlier reads keep theirs", async () => {
  const store = memoryStore();
  const r = record();
  expect(await store.insert(r)).toBe(true);
  const read = (await store.get(r.id))!;
  expect(await store.replace({ ...read, state: "linked", linkId: "L1", version: 1 }, 0)).toBe(true);
  expect((await store.getByLink("L1"))?.state).toBe("linked");
  expect(read.state).toBe("pending");
  expect(await store.replace({ ...read, state: "linked", version: 1 }, 0)).toBe(false); // a stale version loses
  await store.close();
});

test("the record ceiling is a setting", async () => {
  const store = memoryStore({ maxRecords: 3 });
  for (let i = 0; i < 3; i++) expect(await store.insert(record())).toBe(true);
  expect(store.insert(record())).rejects.toThrow(CapacityError);
  await store.close();
});

test("the port index finds live codes only, and a live code cannot be drawn twice", async () => {
  const store = memoryStore();
  const all: SessionRecord[] = [];
  for (let i = 0; i < 2000; i++) {
    const r = record();
    if (await store.insert(r)) all.push(r);
  }
  expect(await store.insert(record({ tuples: all[0]!.tuples.map((t) => [...t].reverse()) }))).toBe(false);
  // link most of them: their codes leave the live index
  for (const r of all.slice(0, 1500)) expect(await store.replace({ ...r, state: "linked", version: 1 }, 0)).toBe(true);
  expect(await store.liveCount()).toBe(500);
  for (const r of [...all.slice(0, 20), ...all.slice(1500, 1520)]) {
    const found = await store.find([r.tuples.flat()]);
    expect(found.map((f) => f.id).includes(r.id)).toBe(r.state === "pending" && all.indexOf(r) >= 1500);
  }
  // a linked code may be drawn again
  expect(await store.insert(record({ tuples: all[0]!.tuples }))).toBe(true);
  await store.close();
});

test("cells reused round the ring never answer for the session that held them before", async () => {
  let clock = 1_000_000;
  const store = memoryStore({ maxRecords: 50, retainMs: 0, now: () => clock });
  const all: SessionRecord[] = [];
  // ten turns of the ring: each turn's sessions expire before the next turn, and take the same cells
  for (let turn = 0; turn < 10; turn++) {
    const these: SessionRecord[] = [];
    for (let i = 0; i < 50; i++) {
      const r = record({ createdAt: clock, expiresAt: clock + 1_000 });
      if (await store.insert(r)) these.push(r);
    }
    expect(these.length).toBeGreaterThan(40);
    for (const r of these) {
      expect((await store.get(r.id))?.id).toBe(r.id);
      const found = await store.find([r.tuples.flat()]);
      expect(found.filter((f) => f.id === r.id).length).toBe(1); // once, never twice through a stale entry
    }
    for (const r of all) expect(await store.get(r.id)).toBeUndefined(); // earlier turns are gone
    expect(await store.liveCount()).toBe(these.length);
    all.push(...these);
    clock += 2_000; // all expire; the next insert past the ceiling sweeps them
  }
  await store.close();
});

test("a session reads back as inserted whether it is kept in columns or whole, and moves between the two", async () => {
  const store = memoryStore();
  const plain = record({ origin: "https://saas.example", apiKeyId: "ak_1" });
  const long = record({ tuples: drawCode(RANGE, { tuples: 4, portsPerTuple: 5 }) }); // 20 knocks: kept whole
  const uneven = record({
    tuples: [
      [29170, 29171],
      [29172, 29173, 29174],
    ],
  });
  for (const r of [plain, long, uneven]) {
    expect(await store.insert(r)).toBe(true);
    expect(await store.get(r.id)).toEqual(r);
    expect((await store.find([r.tuples.flat()])).map((f) => f.id)).toEqual([r.id]);
  }
  // an instruction queued: whole; linked: out of the live indexes; the link finds it
  const queued = {
    ...plain,
    version: 1,
    instructions: [{ id: "i1", name: "key", args: {}, state: "queued" as const }],
  };
  expect(await store.replace(queued, 0)).toBe(true);
  expect(await store.get(plain.id)).toEqual(queued);
  expect((await store.find([plain.tuples.flat()])).map((f) => f.id)).toEqual([plain.id]);
  const linked = { ...queued, version: 2, state: "linked" as const, linkId: "L1", linkedAt: Date.now() };
  expect(await store.replace(linked, 1)).toBe(true);
  expect(await store.getByLink("L1")).toEqual(linked);
  expect(await store.find([plain.tuples.flat()])).toEqual([]);
  expect(await store.liveCount()).toBe(2);
  await store.close();
});

test("the live-session cap counts sessions that expired since the last sweep as gone", async () => {
  let clock = 1_000_000;
  const store = memoryStore({ now: () => clock });
  for (let i = 0; i < 5; i++)
    expect(await store.insert(record({ createdAt: clock, expiresAt: clock + 1_000 }), { maxLive: 5 })).toBe(true);
  expect(store.insert(record({ createdAt: clock, expiresAt: clock + 1_000 }), { maxLive: 5 })).rejects.toThrow(
    CapacityError,
  );
  clock += 1_001; // all five expired, not swept yet
  expect(await store.insert(record({ createdAt: clock, expiresAt: clock + 1_000 }), { maxLive: 5 })).toBe(true);
  await store.close();
});
