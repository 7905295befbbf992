// The in-memory session store: one process, bounded, swept as sessions expire, cheap for the garbage collector.
import { CapacityError } from "../../../lib/errors.ts";
import { takeCharges } from "../../../lib/rate-limit.ts";
import { mix, SlotTable, stringKey } from "./slot-table.ts";
import {
  type Hold,
  liveCapError,
  NO_INSTRUCTIONS,
  type Quota,
  type SessionRecord,
  type SessionStore,
} from "../types.ts";

/** An empty instruction list, shared by every record that has none: one array less per live session. */
const shared = (record: SessionRecord): SessionRecord =>
  record.instructions.length === 0 && record.instructions !== NO_INSTRUCTIONS
    ? { ...record, instructions: NO_INSTRUCTIONS }
    : record;

export interface MemoryStoreOptions {
  /** Records kept at most, live or finished; inserting past it fails with CapacityError. Default 100,000. */
  maxRecords?: number;
  /** How long a finished or expired session can still be read, in ms. Default 300,000. */
  retainMs?: number;
  /** Long polls waiting at once; past it a wait throws CapacityError (503). Default 20,000. */
  maxWaiters?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/**
 * A number for a code, whatever the order of its ports: 53 bits from two sums of mixed ports (a sum does not
 * depend on the order, so nothing is sorted). Each port is mixed in full before it is summed: a mix close to
 * linear let nearby codes share a sum (78 in a million codes of the default range, where 53 bits give none).
 * Two live codes can still share one (about 1 in 2^53 per pair): the second is then refused as if live,
 * and drawn again.
 */
function codeHash(tuples: readonly (readonly number[])[]): number {
  let a = 0;
  let b = 0;
  for (const tuple of tuples) {
    for (const port of tuple) {
      a = (a + mix(port ^ 0x5bd1e995)) | 0;
      b = (b + mix(Math.imul(port, 0x9e3779b1) ^ 0x7f4a7c15)) | 0;
    }
  }
  return (a >>> 0) * 0x200000 + ((b >>> 0) & 0x1fffff);
}

/** Cells per chunk: a chunk's arrays of strings are rescanned by the collector only when they changed since the last collection. */
const CHUNK = 1024;
/** Longest code kept in the columns; longer ones (up to MAX_KNOCKS) are kept as records. */
const INLINE_KNOCKS = 16;

/**
 * A run of cells. A pending session that nothing has touched yet (no instruction, no link) lives in the
 * columns: two strings and numbers in typed arrays, nothing else for the collector to visit. Any other
 * session is kept as its record, in `records`.
 */
interface Chunk {
  /** The record number in each cell (-1 when empty): tells a reused cell from the record an index meant. */
  numbers: Float64Array;
  /** Whether the cell is in the live-code index (pending). */
  indexed: Uint8Array;
  /** The code's hash, for the live-code index. */
  codes: Float64Array;
  records: (SessionRecord | undefined)[];
  // the columns of a session kept inline (records[i] undefined)
  ids: string[];
  addresses: string[];
  origins: (string | undefined)[];
  apiKeyIds: (string | undefined)[];
  times: Float64Array; // createdAt, expiresAt, version per cell
  /** Ports per tuple, 0 for a record kept whole. */
  tupleSize: Uint8Array;
  knocks: Uint8Array;
  ports: Uint16Array; // INLINE_KNOCKS per cell
  /** The quota groups a session counts in until its code expires (see InsertGate.quotas). */
  groups: (readonly string[] | undefined)[];
}

const newChunk = (): Chunk => ({
  numbers: new Float64Array(CHUNK).fill(-1),
  indexed: new Uint8Array(CHUNK),
  codes: new Float64Array(CHUNK),
  records: new Array(CHUNK).fill(undefined),
  ids: new Array(CHUNK).fill(""),
  addresses: new Array(CHUNK).fill(""),
  origins: new Array(CHUNK).fill(undefined),
  apiKeyIds: new Array(CHUNK).fill(undefined),
  times: new Float64Array(CHUNK * 3),
  tupleSize: new Uint8Array(CHUNK),
  knocks: new Uint8Array(CHUNK),
  ports: new Uint16Array(CHUNK * INLINE_KNOCKS),
  groups: new Array(CHUNK).fill(undefined),
});

/** Whether `record` fits the columns: pending, untouched, a code of equal tuples that is not too long. */
function inlinable(record: SessionRecord): boolean {
  if (record.state !== "pending" || record.instructions.length > 0 || record.process !== undefined) return false;
  if (record.linkId !== undefined || record.linkedAt !== undefined || record.serviceId !== undefined) return false;
  if (record.failure !== undefined || record.proposedAt !== undefined) return false;
  const size = record.tuples[0]?.length ?? 0;
  if (size === 0 || size > 255 || size * record.tuples.length > INLINE_KNOCKS) return false;
  for (const tuple of record.tuples) if (tuple.length !== size) return false;
  return true;
}

/**
 * Creates an in-memory store; call close() to stop its sweeper.
 *
 * Records get numbers in insertion order and sit in a ring of `maxRecords` cells, in chunks. A pending
 * session is kept in columns (typed arrays and two strings) and built into a record when read; the indexes
 * (by id, by live code) hold record numbers in typed arrays (see slot-table.ts). So the collector
 * has about two small strings per live session to visit, not ten objects, and a session issued changes one
 * chunk: at 600,000 live the store cost 6 to 13 µs per session issued in collections alone, and its heap
 * grew by about 650 bytes per session.
 */
export function memoryStore(options: MemoryStoreOptions = {}): SessionStore {
  const maxRecords = options.maxRecords ?? 100_000;
  const retainMs = options.retainMs ?? 300_000;
  const maxWaiters = options.maxWaiters ?? 20_000;
  const now = options.now ?? Date.now;

  const chunks: Chunk[] = [];
  /** Numbers of the oldest record kept, of the oldest not yet swept out of the live-code index, and of the next. */
  let head = 0;
  let swept = 0;
  let tail = 0;
  const ids = new SlotTable(); // id hash -> number
  const liveCodes = new SlotTable(); // code hash -> number, pending sessions only
  const byLink = new Map<string, number>();
  const waiters = new Map<string, Set<() => void>>();
  let waiterCount = 0;
  /** Unexpired sessions per quota group; a group leaves the map at zero. */
  const groupLive = new Map<string, number>();
  /** Bytes each group holds (Hold), and what record `n` holds for its group, until the record is forgotten. */
  const groupHeld = new Map<string, number>();
  const holds = new Map<number, { group: string; bytes: number }[]>();
  const count = (map: Map<string, number>, group: string, by: number) => {
    const next = (map.get(group) ?? 0) + by;
    if (next > 0) map.set(group, next);
    else map.delete(group);
  };
  // A caller that hands the same quotas again (one API key's sessions) shares one list of names among them.
  const names = new WeakMap<readonly Quota[], readonly string[]>();
  const groupNames = (quotas: readonly Quota[]) => {
    let found = names.get(quotas);
    if (!found) names.set(quotas, (found = quotas.map((q) => q.group)));
    return found;
  };
  /** The first of `quotas` whose group is full, if any. */
  const fullQuota = (quotas: readonly Quota[]) => {
    for (const q of quotas) if ((groupLive.get(q.group) ?? 0) >= q.max) return q;
    return undefined;
  };

  const chunkOf = (n: number) => chunks[Math.floor((n % maxRecords) / CHUNK)];
  const cellOf = (n: number) => (n % maxRecords) % CHUNK;
  /** The chunk of record `n` while it is kept, else undefined. */
  function kept(n: number): Chunk | undefined {
    const chunk = chunkOf(n);
    return chunk !== undefined && chunk.numbers[cellOf(n)] === n ? chunk : undefined;
  }

  /** Record `n` as a value: kept whole, or built from its columns (a new object each read). */
  function at(n: number): SessionRecord | undefined {
    const chunk = kept(n);
    if (!chunk) return undefined;
    const i = cellOf(n);
    const whole = chunk.records[i];
    if (whole) return whole;
    const size = chunk.tupleSize[i]!;
    const tuples: number[][] = [];
    for (let from = i * INLINE_KNOCKS, end = from + chunk.knocks[i]!; from < end; from += size) {
      tuples.push(Array.from(chunk.ports.subarray(from, from + size)));
    }
    return {
      id: chunk.ids[i]!,
      tuples,
      createdAt: chunk.times[i * 3]!,
      expiresAt: chunk.times[i * 3 + 1]!,
      state: "pending",
      version: chunk.times[i * 3 + 2]!,
      address: chunk.addresses[i]!,
      origin: chunk.origins[i],
      apiKeyId: chunk.apiKeyIds[i],
      instructions: NO_INSTRUCTIONS,
    };
  }
  const idAt = (chunk: Chunk, i: number) => chunk.records[i]?.id ?? chunk.ids[i];
  const expiresAt = (chunk: Chunk, i: number) => chunk.records[i]?.expiresAt ?? chunk.times[i * 3 + 1]!;
  /** Whether record `n` is pending, unexpired and in the live-code index. */
  function isLive(n: number): boolean {
    const chunk = kept(n);
    if (!chunk) return false;
    const i = cellOf(n);
    return chunk.indexed[i] === 1 && expiresAt(chunk, i) > now();
  }
  /** Whether record `n`'s code is exactly the ports of `code` (distinct ports, any order), without building it. */
  function isCode(n: number, code: readonly number[]): boolean {
    const chunk = kept(n)!;
    const i = cellOf(n);
    const whole = chunk.records[i];
    const ports = whole
      ? whole.tuples.flat()
      : chunk.ports.subarray(i * INLINE_KNOCKS, i * INLINE_KNOCKS + chunk.knocks[i]!);
    if (ports.length !== code.length) return false;
    for (const port of ports) if (!code.includes(port)) return false;
    return true;
  }

  function numberOf(id: string): number {
    const key = stringKey(id);
    for (let cell = ids.first(key); cell >= 0; cell = ids.next(cell, key)) {
      const n = ids.valueAt(cell);
      const chunk = kept(n);
      if (chunk && idAt(chunk, cellOf(n)) === id) return n;
    }
    return -1;
  }

  /** Stores `record` as number `n`: in the columns when it fits them, else whole. */
  function put(n: number, record: SessionRecord): Chunk {
    const cell = n % maxRecords;
    const chunk = (chunks[Math.floor(cell / CHUNK)] ??= newChunk());
    const i = cell % CHUNK;
    chunk.numbers[i] = n;
    if (!inlinable(record)) {
      chunk.records[i] = shared(record);
      chunk.ids[i] = "";
      chunk.addresses[i] = "";
      chunk.origins[i] = undefined;
      chunk.apiKeyIds[i] = undefined;
      return chunk;
    }
    chunk.records[i] = undefined;
    chunk.ids[i] = record.id;
    chunk.addresses[i] = record.address;
    chunk.origins[i] = record.origin;
    chunk.apiKeyIds[i] = record.apiKeyId;
    chunk.times[i * 3] = record.createdAt;
    chunk.times[i * 3 + 1] = record.expiresAt;
    chunk.times[i * 3 + 2] = record.version;
    chunk.tupleSize[i] = record.tuples[0]!.length;
    let k = i * INLINE_KNOCKS;
    for (const tuple of record.tuples) for (const port of tuple) chunk.ports[k++] = port;
    chunk.knocks[i] = k - i * INLINE_KNOCKS;
    return chunk;
  }

  /** Record `n`'s session no longer counts in its quota groups (linked, or expired). */
  function release(chunk: Chunk, i: number): void {
    const groups = chunk.groups[i];
    if (!groups) return;
    chunk.groups[i] = undefined;
    for (const group of groups) count(groupLive, group, -1);
  }

  /** Takes record `n` out of the live-code index (linked, or expired). */
  function unindex(n: number): void {
    const chunk = kept(n)!;
    const i = cellOf(n);
    if (chunk.indexed[i] !== 1) return;
    chunk.indexed[i] = 0;
    liveCodes.remove(chunk.codes[i]!, n);
  }

  /** Forgets record `n` altogether (the oldest, past its retention). */
  function remove(n: number, record: SessionRecord): void {
    const chunk = kept(n)!;
    const i = cellOf(n);
    ids.remove(stringKey(record.id), n);
    if (record.linkId !== undefined && byLink.get(record.linkId) === n) byLink.delete(record.linkId);
    for (const held of holds.get(n) ?? []) count(groupHeld, held.group, -held.bytes);
    holds.delete(n);
    chunk.numbers[i] = -1;
    chunk.records[i] = undefined;
    chunk.ids[i] = "";
    chunk.addresses[i] = "";
    chunk.origins[i] = undefined;
    chunk.apiKeyIds[i] = undefined;
  }

  function wake(id: string): void {
    const set = waiters.get(id);
    if (!set) return;
    waiters.delete(id);
    waiterCount -= set.size;
    for (const resolve of set) resolve();
  }

  // Records are numbered in creation order and all share one lifetime rule, so the oldest come first: each
  // sweep walks only what expired or passed its retention since the last one.
  function sweep(): void {
    const t = now();
    for (; swept < tail; swept++) {
      const chunk = kept(swept);
      if (chunk === undefined) continue;
      const i = cellOf(swept);
      if (expiresAt(chunk, i) > t) break;
      release(chunk, i);
      if (chunk.indexed[i] === 1) {
        unindex(swept);
        wake(idAt(chunk, i)!);
      }
    }
    for (; head < swept; head++) {
      const chunk = kept(head);
      if (chunk === undefined) continue;
      if (expiresAt(chunk, cellOf(head)) + retainMs > t) break;
      remove(head, at(head)!);
    }
  }
  const sweeper = setInterval(sweep, 1000);
  sweeper.unref?.();

  return {
    name: "memory",
    async insert(record, gate = {}) {
      if (gate.charges && gate.charges.length > 0) await takeCharges(gate.charges);
      if (gate.maxLive !== undefined && liveCodes.size >= gate.maxLive) {
        sweep(); // sessions that expired since the last sweep (up to a second ago) do not count
        if (liveCodes.size >= gate.maxLive) throw liveCapError(gate.maxLive);
      }
      const quotas = gate.quotas ?? [];
      if (fullQuota(quotas)) {
        sweep();
        const full = fullQuota(quotas);
        if (full) throw full.refusal();
      }
      if (tail - head >= maxRecords) sweep();
      if (tail - head >= maxRecords) throw new CapacityError(`the session store is full (${maxRecords} sessions)`);
      const hash = codeHash(record.tuples);
      let stale = -1;
      for (let cell = liveCodes.first(hash); cell >= 0; cell = liveCodes.next(cell, hash)) {
        const holder = liveCodes.valueAt(cell);
        if (isLive(holder)) return false;
        stale = holder;
      }
      if (stale >= 0) {
        if (kept(stale)) unindex(stale);
        else liveCodes.remove(hash, stale);
      }
      const n = tail++;
      const chunk = put(n, record);
      const i = cellOf(n);
      chunk.indexed[i] = 1;
      chunk.codes[i] = hash;
      if (quotas.length > 0) {
        chunk.groups[i] = groupNames(quotas);
        for (const q of quotas) count(groupLive, q.group, 1);
      }
      ids.add(stringKey(record.id), n);
      liveCodes.add(hash, n);
      return true;
    },
    async get(id) {
      const n = numberOf(id);
      return n < 0 ? undefined : at(n);
    },
    async getByLink(linkId) {
      const n = byLink.get(linkId);
      return n === undefined ? undefined : at(n);
    },
    async replace(record, expectedVersion, hold?: Hold) {
      const n = numberOf(record.id);
      const current = n < 0 ? undefined : at(n);
      if (!current || current.version !== expectedVersion) return false;
      if (hold) {
        if ((groupHeld.get(hold.group) ?? 0) + hold.bytes > hold.max) throw hold.refusal();
        count(groupHeld, hold.group, hold.bytes);
        const mine = holds.get(n);
        if (mine) mine.push({ group: hold.group, bytes: hold.bytes });
        else holds.set(n, [{ group: hold.group, bytes: hold.bytes }]);
      }
      if (record.state !== "pending") {
        unindex(n);
        release(kept(n)!, cellOf(n));
      }
      put(n, record);
      if (record.linkId) byLink.set(record.linkId, n);
      if (record.version !== expectedVersion) wake(record.id);
      return true;
    },
    async find(codes, charges = []) {
      if (charges.length > 0) await takeCharges(charges);
      const found: SessionRecord[] = [];
      for (const code of codes) {
        const hash = codeHash([code]);
        for (let cell = liveCodes.first(hash); cell >= 0; cell = liveCodes.next(cell, hash)) {
          const n = liveCodes.valueAt(cell);
          // A code given twice finds its session once.
          if (isLive(n) && isCode(n, code) && !found.some((r) => r.id === idAt(kept(n)!, cellOf(n))))
            found.push(at(n)!);
        }
      }
      return found;
    },
    changed(id, version, signal) {
      const n = numberOf(id);
      const record = n < 0 ? undefined : at(n);
      if (!record || record.version > version || signal.aborted) return Promise.resolve();
      // Resolving here would tell the caller to read and wait again at once: a spin that froze the server.
      if (waiterCount >= maxWaiters)
        return Promise.reject(new CapacityError(`too many long polls waiting (${maxWaiters}); poll again shortly`));
      return new Promise<void>((resolve) => {
        let set = waiters.get(id);
        if (!set) waiters.set(id, (set = new Set()));
        const done = () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = () => {
          if (set!.delete(done)) waiterCount--;
          if (set!.size === 0 && waiters.get(id) === set) waiters.delete(id);
          resolve();
        };
        set.add(done);
        waiterCount++;
        signal.addEventListener("abort", onAbort, { once: true });
      });
    },
    async liveCount() {
      // pending sessions are indexed by code until linked or swept: counting them costs nothing, where
      // checking each for expiry cost 0.8 ms per session issued at 10,000 live
      return liveCodes.size;
    },
    async close() {
      clearInterval(sweeper);
      for (const id of [...waiters.keys()]) wake(id);
    },
  };
}
