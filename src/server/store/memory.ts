// The in-memory session store: one process, bounded, swept as sessions expire.
import { CapacityError } from "../../lib/errors.ts";
import { takeCharges } from "../../lib/rate-limit.ts";
import { liveCapError, type SessionRecord, type SessionStore } from "./types.ts";

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

/** A port's pending sessions. Ids leave lazily: `dead` counts the ones gone, and past half the list is compacted. */
interface PortList {
  ids: string[];
  dead: number;
}

const EMPTY: readonly never[] = Object.freeze([]);

/** An empty instruction list, shared by every record that has none: one array less per live session. */
const shared = (record: SessionRecord): SessionRecord =>
  record.instructions.length === 0 && record.instructions !== EMPTY ? { ...record, instructions: EMPTY } : record;

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

/** Creates an in-memory store; call close() to stop its sweeper. */
export function memoryStore(options: MemoryStoreOptions = {}): SessionStore {
  const maxRecords = options.maxRecords ?? 100_000;
  const retainMs = options.retainMs ?? 300_000;
  const maxWaiters = options.maxWaiters ?? 10_000;
  const now = options.now ?? Date.now;

  // Records are immutable values (readonly types, see types.ts), stored once: every read hands out the same object.
  const records = new Map<string, SessionRecord>();
  const byLink = new Map<string, string>();
  const liveCodes = new Map<number, string>(); // code hash -> session id, pending sessions only
  const byPort = new Map<number, PortList>(); // port -> pending session ids (lazily cleaned)
  const waiters = new Map<string, Set<() => void>>();
  let waiterCount = 0;

  const isLive = (r: SessionRecord) => r.state === "pending" && r.expiresAt > now();
  const indexed = (r: SessionRecord) => r.state === "pending" && liveCodes.get(codeHash(r.tuples)) === r.id;

  function unindex(record: SessionRecord): void {
    const hash = codeHash(record.tuples);
    if (liveCodes.get(hash) !== record.id) return;
    liveCodes.delete(hash);
    for (const tuple of record.tuples) {
      for (const port of tuple) {
        const list = byPort.get(port);
        if (!list) continue;
        if (++list.dead * 2 <= list.ids.length) continue;
        list.ids = list.ids.filter((id) => {
          const r = records.get(id);
          return r !== undefined && r.id !== record.id && isLive(r);
        });
        list.dead = 0;
        if (list.ids.length === 0) byPort.delete(port);
      }
    }
  }

  function wake(id: string): void {
    const set = waiters.get(id);
    if (!set) return;
    waiters.delete(id);
    waiterCount -= set.size;
    for (const resolve of set) resolve();
  }

  // Records are inserted in creation order and all share one lifetime rule, so the oldest are at the front.
  function sweep(): void {
    const t = now();
    for (const record of records.values()) {
      if (record.expiresAt > t) break;
      if (indexed(record)) {
        unindex(record);
        wake(record.id);
      }
      if (record.expiresAt + retainMs > t) continue;
      records.delete(record.id);
      if (record.linkId) byLink.delete(record.linkId);
    }
  }
  const sweeper = setInterval(sweep, 1000);
  sweeper.unref?.();

  return {
    name: "memory",
    async insert(record, gate = {}) {
      if (gate.charges && gate.charges.length > 0) await takeCharges(gate.charges);
      if (gate.maxLive !== undefined && liveCodes.size >= gate.maxLive) throw liveCapError(gate.maxLive);
      if (records.size >= maxRecords) sweep();
      if (records.size >= maxRecords) throw new CapacityError(`the session store is full (${maxRecords} sessions)`);
      const hash = codeHash(record.tuples);
      const holder = liveCodes.get(hash);
      if (holder !== undefined) {
        const other = records.get(holder);
        if (other && isLive(other)) return false;
        if (other) unindex(other);
      }
      records.set(record.id, shared(record));
      liveCodes.set(hash, record.id);
      for (const tuple of record.tuples) {
        for (const port of tuple) {
          const list = byPort.get(port);
          if (list) list.ids.push(record.id);
          else byPort.set(port, { ids: [record.id], dead: 0 });
        }
      }
      return true;
    },
    async get(id) {
      return records.get(id);
    },
    async getByLink(linkId) {
      const id = byLink.get(linkId);
      return id === undefined ? undefined : records.get(id);
    },
    async replace(record, expectedVersion) {
      const current = records.get(record.id);
      if (!current || current.version !== expectedVersion) return false;
      if (record.state !== "pending") unindex(current);
      records.set(record.id, shared(record));
      if (record.linkId) byLink.set(record.linkId, record.id);
      if (record.version !== expectedVersion) wake(record.id);
      return true;
    },
    async candidates(ports, limit, charges = []) {
      if (charges.length > 0) await takeCharges(charges);
      if (ports.length === 0) return [];
      let smallest: PortList | undefined;
      for (const port of ports) {
        const list = byPort.get(port);
        if (!list) return [];
        if (!smallest || list.ids.length < smallest.ids.length) smallest = list;
      }
      const found: SessionRecord[] = [];
      for (const id of smallest!.ids) {
        const record = records.get(id);
        if (!record || !isLive(record)) continue;
        const code = record.tuples.flat();
        if (ports.every((p) => code.includes(p))) found.push(record);
        if (found.length >= limit) break;
      }
      return found;
    },
    changed(id, version, signal) {
      const record = records.get(id);
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
