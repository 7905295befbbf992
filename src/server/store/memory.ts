// The in-memory session store: one process, bounded, swept as sessions expire, cheap for the garbage collector.
import { CapacityError } from "../../lib/errors.ts";
import { NumberList, SlotTable, stringKey } from "./slot-table.ts";
import { NO_INSTRUCTIONS, type SessionRecord, type SessionStore } from "./types.ts";

/** An empty instruction list, shared by every record that has none: one array less per live session. */
const shared = (record: SessionRecord): SessionRecord =>
  record.instructions.length === 0 && record.instructions !== NO_INSTRUCTIONS ? { ...record, instructions: NO_INSTRUCTIONS } : record;

export interface MemoryStoreOptions {
  /** Records kept at most, live or finished; inserting past it fails with CapacityError. Default 100,000. */
  maxRecords?: number;
  /** How long a finished or expired session can still be read, in ms. Default 300,000. */
  retainMs?: number;
  /** Long polls waiting at once; past it a poll returns at once and the client polls again. Default 10,000. */
  maxWaiters?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/**
 * A number for a code, whatever the order of its ports: 53 bits from two sums of mixed ports (a sum does not
 * depend on the order, so nothing is sorted). Two live codes can share one (about 1 in 2^53 per pair): the
 * second is then refused as if live, and drawn again.
 */
function codeHash(tuples: readonly (readonly number[])[]): number {
  let a = 0;
  let b = 0;
  for (const tuple of tuples) {
    for (const port of tuple) {
      a = (a + (Math.imul(port ^ 0x5bd1e995, 0x9e3779b1) ^ (port << 13))) | 0;
      b = (b + Math.imul((port + 0x7f4a7c15) ^ (port >>> 3), 0x85ebca6b)) | 0;
    }
  }
  return (a >>> 0) * 0x200000 + ((b >>> 0) & 0x1fffff);
}

/** Records per chunk: a chunk is scanned by the collector only when it changed since the last collection. */
const CHUNK = 1024;

/**
 * A run of record numbers: what each holds (undefined once removed), its number (to tell a reused cell from
 * the record an index meant), and whether it is in the live indexes (pending, by code and by port).
 */
interface Chunk {
  records: (SessionRecord | undefined)[];
  numbers: Float64Array;
  indexed: Uint8Array;
}

/**
 * Creates an in-memory store; call close() to stop its sweeper.
 *
 * Records get numbers in insertion order and sit in a ring of `maxRecords` cells, in chunks; the indexes
 * (by id, by live code, by port) hold record numbers in typed arrays (see slot-table.ts). A session issued
 * changes one chunk and typed arrays only, so a collection rescans one chunk, not every live session.
 */
export function memoryStore(options: MemoryStoreOptions = {}): SessionStore {
  const maxRecords = options.maxRecords ?? 100_000;
  const retainMs = options.retainMs ?? 300_000;
  const maxWaiters = options.maxWaiters ?? 10_000;
  const now = options.now ?? Date.now;

  const chunks: Chunk[] = [];
  /** Numbers of the oldest record kept, of the oldest not yet swept out of the live indexes, and of the next. */
  let head = 0;
  let swept = 0;
  let tail = 0;
  const ids = new SlotTable(); // id hash -> number
  const liveCodes = new SlotTable(); // code hash -> number, pending sessions only
  const byPort = new Map<number, NumberList>(); // port -> numbers of pending sessions (lazily cleaned)
  const byLink = new Map<string, number>();
  const waiters = new Map<string, Set<() => void>>();
  let waiterCount = 0;

  const chunkOf = (n: number) => chunks[Math.floor((n % maxRecords) / CHUNK)];
  /** The record numbered `n`, if it is still kept. */
  function at(n: number): SessionRecord | undefined {
    const chunk = chunkOf(n);
    const i = (n % maxRecords) % CHUNK;
    return chunk !== undefined && chunk.numbers[i] === n ? chunk.records[i] : undefined;
  }
  const isIndexed = (n: number) => chunkOf(n)?.indexed[(n % maxRecords) % CHUNK] === 1;
  const isLive = (r: SessionRecord) => r.state === "pending" && r.expiresAt > now();

  function numberOf(id: string): number {
    const key = stringKey(id);
    for (let cell = ids.first(key); cell >= 0; cell = ids.next(cell, key)) {
      const n = ids.valueAt(cell);
      if (at(n)?.id === id) return n;
    }
    return -1;
  }

  function put(n: number, record: SessionRecord): void {
    const cell = n % maxRecords;
    const c = Math.floor(cell / CHUNK);
    const chunk = (chunks[c] ??= { records: new Array(CHUNK).fill(undefined), numbers: new Float64Array(CHUNK).fill(-1), indexed: new Uint8Array(CHUNK) });
    chunk.records[cell % CHUNK] = record;
    chunk.numbers[cell % CHUNK] = n;
  }

  /** Takes record `n` out of the live indexes (linked, or expired); its port entries go lazily. */
  function unindex(n: number, record: SessionRecord): void {
    const chunk = chunkOf(n)!;
    const i = (n % maxRecords) % CHUNK;
    if (chunk.indexed[i] !== 1) return;
    chunk.indexed[i] = 0;
    liveCodes.remove(codeHash(record.tuples), n);
    for (const tuple of record.tuples) {
      for (const port of tuple) {
        const list = byPort.get(port);
        if (!list) continue;
        if (++list.dead * 2 <= list.length) continue;
        list.retain((m) => {
          const r = at(m);
          return r !== undefined && isIndexed(m) && isLive(r);
        });
        if (list.length === 0) byPort.delete(port);
      }
    }
  }

  /** Forgets record `n` altogether (the oldest, past its retention). */
  function remove(n: number, record: SessionRecord): void {
    const chunk = chunkOf(n)!;
    const i = (n % maxRecords) % CHUNK;
    ids.remove(stringKey(record.id), n);
    if (record.linkId !== undefined && byLink.get(record.linkId) === n) byLink.delete(record.linkId);
    chunk.records[i] = undefined;
    chunk.numbers[i] = -1;
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
      const record = at(swept);
      if (record === undefined) continue;
      if (record.expiresAt > t) break;
      if (isIndexed(swept)) {
        unindex(swept, record);
        wake(record.id);
      }
    }
    for (; head < swept; head++) {
      const record = at(head);
      if (record === undefined) continue;
      if (record.expiresAt + retainMs > t) break;
      remove(head, record);
    }
  }
  const sweeper = setInterval(sweep, 1000);
  sweeper.unref?.();

  return {
    name: "memory",
    async insert(record) {
      if (tail - head >= maxRecords) sweep();
      if (tail - head >= maxRecords) throw new CapacityError(`the session store is full (${maxRecords} sessions)`);
      const hash = codeHash(record.tuples);
      let stale = -1;
      for (let cell = liveCodes.first(hash); cell >= 0; cell = liveCodes.next(cell, hash)) {
        const holder = liveCodes.valueAt(cell);
        const other = at(holder);
        if (other && isLive(other)) return false;
        stale = holder;
      }
      if (stale >= 0) {
        const other = at(stale);
        if (other) unindex(stale, other);
        else liveCodes.remove(hash, stale);
      }
      const n = tail++;
      put(n, shared(record));
      chunkOf(n)!.indexed[(n % maxRecords) % CHUNK] = 1;
      ids.add(stringKey(record.id), n);
      liveCodes.add(hash, n);
      for (const tuple of record.tuples) {
        for (const port of tuple) {
          let list = byPort.get(port);
          if (!list) byPort.set(port, (list = new NumberList()));
          list.push(n);
        }
      }
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
    async replace(record, expectedVersion) {
      const n = numberOf(record.id);
      const current = n < 0 ? undefined : at(n);
      if (!current || current.version !== expectedVersion) return false;
      if (record.state !== "pending") unindex(n, current);
      put(n, shared(record));
      if (record.linkId) byLink.set(record.linkId, n);
      if (record.version !== expectedVersion) wake(record.id);
      return true;
    },
    async candidates(ports, limit) {
      if (ports.length === 0) return [];
      let smallest: NumberList | undefined;
      for (const port of ports) {
        const list = byPort.get(port);
        if (!list) return [];
        if (!smallest || list.length < smallest.length) smallest = list;
      }
      const found: SessionRecord[] = [];
      for (let i = 0; i < smallest!.length && found.length < limit; i++) {
        const n = smallest!.items[i]!;
        const record = at(n);
        if (!record || !isIndexed(n) || !isLive(record)) continue;
        const code = record.tuples.flat();
        if (ports.every((p) => code.includes(p))) found.push(record);
      }
      return found;
    },
    changed(id, version, signal) {
      const n = numberOf(id);
      const record = n < 0 ? undefined : at(n);
      if (!record || record.version > version || signal.aborted || waiterCount >= maxWaiters) return Promise.resolve();
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
