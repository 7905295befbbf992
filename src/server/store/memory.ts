// The in-memory session store: one process, bounded, swept as sessions expire.
import { CapacityError } from "../../lib/errors.ts";
import { codeKey } from "../../protocol/code.ts";
import type { SessionRecord, SessionStore } from "./types.ts";

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

/** Creates an in-memory store; call close() to stop its sweeper. */
export function memoryStore(options: MemoryStoreOptions = {}): SessionStore {
  const maxRecords = options.maxRecords ?? 100_000;
  const retainMs = options.retainMs ?? 300_000;
  const maxWaiters = options.maxWaiters ?? 10_000;
  const now = options.now ?? Date.now;

  const records = new Map<string, SessionRecord>();
  const byLink = new Map<string, string>();
  const liveKeys = new Map<string, string>(); // code key -> session id, pending sessions only
  const byPort = new Map<number, Set<string>>(); // port -> pending session ids
  const waiters = new Map<string, Set<() => void>>();
  let waiterCount = 0;

  const isLive = (r: SessionRecord) => r.state === "pending" && r.expiresAt > now();

  function unindex(record: SessionRecord): void {
    const key = codeKey(record.tuples.flat());
    if (liveKeys.get(key) === record.id) liveKeys.delete(key);
    for (const port of record.tuples.flat()) {
      const ids = byPort.get(port);
      ids?.delete(record.id);
      if (ids?.size === 0) byPort.delete(port);
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
      if (record.state === "pending" && byPort.get(record.tuples[0]![0]!)?.has(record.id)) {
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
    async insert(record) {
      if (records.size >= maxRecords) sweep();
      if (records.size >= maxRecords) throw new CapacityError(`the session store is full (${maxRecords} sessions)`);
      const key = codeKey(record.tuples.flat());
      const holder = liveKeys.get(key);
      if (holder !== undefined) {
        const other = records.get(holder);
        if (other && isLive(other)) return false;
      }
      records.set(record.id, structuredClone(record));
      liveKeys.set(key, record.id);
      for (const port of record.tuples.flat()) {
        let ids = byPort.get(port);
        if (!ids) byPort.set(port, (ids = new Set()));
        ids.add(record.id);
      }
      return true;
    },
    async get(id) {
      const record = records.get(id);
      return record && structuredClone(record);
    },
    async getByLink(linkId) {
      const id = byLink.get(linkId);
      const record = id === undefined ? undefined : records.get(id);
      return record && structuredClone(record);
    },
    async replace(record, expectedVersion) {
      const current = records.get(record.id);
      if (!current || current.version !== expectedVersion) return false;
      records.set(record.id, structuredClone(record));
      if (record.state !== "pending") unindex(record);
      if (record.linkId) byLink.set(record.linkId, record.id);
      if (record.version !== expectedVersion) wake(record.id);
      return true;
    },
    async candidates(ports, limit) {
      if (ports.length === 0) return [];
      let smallest: Set<string> | undefined;
      for (const port of ports) {
        const ids = byPort.get(port);
        if (!ids) return [];
        if (!smallest || ids.size < smallest.size) smallest = ids;
      }
      const found: SessionRecord[] = [];
      for (const id of smallest!) {
        const record = records.get(id);
        if (!record || !isLive(record)) continue;
        const code = new Set(record.tuples.flat());
        if (ports.every((p) => code.has(p))) found.push(structuredClone(record));
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
      return liveKeys.size;
    },
    async close() {
      clearInterval(sweeper);
      for (const id of [...waiters.keys()]) wake(id);
    },
  };
}
