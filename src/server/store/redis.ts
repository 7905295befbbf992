// The Redis session store: sessions shared by every instance, each change one Lua script, long polls woken by pub/sub.
import type { Logger } from "../../lib/log.ts";
import { takeCharges } from "../../lib/rate-limit.ts";
import { CHARGE_PRELUDE, chargesFor } from "../redis/buckets.ts";
import type { RedisConnection } from "../redis/connection.ts";
import { liveCapError, type SessionRecord, type SessionStore } from "./types.ts";

export interface RedisStoreOptions {
  /** How long a finished or expired session can still be read, in ms. Default 300,000 (as the memory store). */
  retainMs?: number;
  /** Long polls waiting at once in this instance; past it a poll returns at once. Default 10,000. */
  maxWaiters?: number;
  /** How often waiting polls look for changes whose message was lost, in ms. Default 250. */
  recheckMs?: number;
  /** How long a port index outlives its last live entry, in ms (its expiry moves on in steps this long). Default 60,000. */
  indexSlackMs?: number;
}

/** One insert in this many prunes the indexes it adds to. */
const PRUNE_EVERY = 8;

/** How long the list of recent changes keeps an entry, in ms: it covers a re-check that ran late. */
const CHANGES_KEEP_MS = 10_000;

// Charges first (CHARGE_PRELUDE), then K: record, code, live, ...ports. A: id, json, expiresAt, retainUntil, now,
// prune (1 or 0), refresh (one '1' or '0' per index: whether to move its expiry to A[8]), index expiry, the
// live-session cap ('' for none). Answers 1 inserted, 0 the code is live, -1 the cap is reached, or
// {position, tokens} of a refused charge; refused, it writes nothing but the charges taken before.
// An index is pruned of expired entries on one insert in PRUNE_EVERY (and on every read): a call per index
// per insert costs about a tenth of the script, and an index holds at most PRUNE_EVERY inserts' worth of
// expired entries more than its live ones. Its expiry is moved on only when this instance has not moved it
// far enough yet (see `refreshed`), and then indexSlackMs beyond its last live entry.
const INSERT = `${CHARGE_PRELUDE}
local refused, held = charge()
if refused > 0 then return {refused, tostring(held)} end
if A[9] ~= '' and redis.call('ZCOUNT', K[3], '(' .. A[5], '+inf') >= tonumber(A[9]) then return -1 end
if not redis.call('SET', K[2], A[1], 'NX', 'PXAT', A[3]) then return 0 end
local now, exp, prune = tonumber(A[5]), tonumber(A[3]), A[6] == '1'
redis.call('HSET', K[1], 'v', 0, 'd', A[2])
redis.call('PEXPIREAT', K[1], A[4])
for i = 3, #K do
  if prune then redis.call('ZREMRANGEBYSCORE', K[i], '-inf', now) end
  redis.call('ZADD', K[i], exp, A[1])
  if string.byte(A[7], i - 2) == 49 and redis.call('PTTL', K[i]) < tonumber(A[8]) - now then redis.call('PEXPIREAT', K[i], A[8]) end
end
return 1`;

// KEYS: record, code, live, link, changes, ...ports. ARGV: expected, json, version, pending, id, channel, linkId.
const REPLACE = `
local v = redis.call('HGET', KEYS[1], 'v')
if not v or v ~= ARGV[1] then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'd', ARGV[2])
if ARGV[4] == '0' then
  if redis.call('GET', KEYS[2]) == ARGV[5] then redis.call('DEL', KEYS[2]) end
  for i = 6, #KEYS do redis.call('ZREM', KEYS[i], ARGV[5]) end
  redis.call('ZREM', KEYS[3], ARGV[5])
end
if ARGV[7] ~= '' and ttl > 0 then redis.call('SET', KEYS[4], ARGV[5], 'PX', ttl) end
if ARGV[3] ~= ARGV[1] then
  local t = redis.call('TIME')
  local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[5], ms, ARGV[5])
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', ms - ${CHANGES_KEEP_MS})
  redis.call('PEXPIRE', KEYS[5], ${CHANGES_KEEP_MS})
  redis.call('PUBLISH', ARGV[6], ARGV[5])
end
return 1`;

// Charges first (CHARGE_PRELUDE), then K: ...ports. A: now, limit, record key prefix. Answers the position of a
// refused charge (0 for none) and what it held, then the pending, unexpired records in every port's index.
const CANDIDATES = `${CHARGE_PRELUDE}
local refused, held = charge()
if refused > 0 then return {refused, tostring(held)} end
local now = tonumber(A[1])
for i = 1, #K do redis.call('ZREMRANGEBYSCORE', K[i], '-inf', now) end
local ids
if #K == 1 then ids = redis.call('ZRANGE', K[1], 0, -1) else ids = redis.call('ZINTER', #K, unpack(K)) end
local out = {0, ''}
for _, id in ipairs(ids) do
  local d = redis.call('HGET', A[3] .. id, 'd')
  if d then out[#out + 1] = d end
  if #out - 2 >= tonumber(A[2]) then break end
end
return out`;

// KEYS: link. ARGV: record key prefix.
const BY_LINK = `
local id = redis.call('GET', KEYS[1])
if not id then return false end
return redis.call('HGET', ARGV[1] .. id, 'd')`;

// KEYS: changes. ARGV: since (ms, Redis clock; 0 for none). Returns the Redis clock, then the ids changed since.
const CHANGES = `
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')
table.insert(ids, 1, tostring(ms))
return ids`;

/** A session store in Redis; sessions expire in Redis with what they hold (see README, "Running several instances"). */
export async function redisStore(redis: RedisConnection, log: Logger, options: RedisStoreOptions = {}): Promise<SessionStore> {
  const retainMs = options.retainMs ?? 300_000;
  const maxWaiters = options.maxWaiters ?? 10_000;
  const indexSlackMs = options.indexSlackMs ?? 60_000;
  const p = redis.prefix;
  const key = {
    record: (id: string) => `${p}s:${id}`,
    port: (port: number) => `${p}port:${port}`,
    link: (linkId: string) => `${p}link:${linkId}`,
    live: `${p}live`,
    changes: `${p}changes`,
    channel: `${p}changed`,
  };
  // The expiry this instance last gave each index (a lower bound: another instance may have moved it further).
  // An index deleted meanwhile (emptied, or Redis restarted) goes without expiry until this runs past it, at
  // most indexSlackMs: a late expiry, never a lost entry. Bounded by the port range, plus one.
  const refreshed = new Map<string, number>();
  // A session's code key and its ports' index keys (each port once, in order).
  // Port keys are made once each: at most one per port number, 65,536.
  const portKeys: string[] = [];
  const portKey = (port: number) => (Number.isInteger(port) && port >= 0 && port <= 0xffff ? (portKeys[port] ??= key.port(port)) : key.port(port));
  const codeKeys = (r: SessionRecord) => {
    const sorted = r.tuples.flat().sort((x, y) => x - y);
    const ports: string[] = [];
    for (let i = 0; i < sorted.length; i++) {
      const port = sorted[i]!;
      if (port !== sorted[i - 1]) ports.push(portKey(port));
    }
    return { code: `${p}code:${sorted.join(",")}`, ports }; // codeKey's form, without sorting again
  };
  const insert = redis.script(INSERT);
  const replace = redis.script(REPLACE);
  const candidates = redis.script(CANDIDATES);
  const byLink = redis.script(BY_LINK);
  const changes = redis.script(CHANGES);

  // Long polls held by this instance, by session id: each resolves at the next change of its session, with
  // the record when this instance made the change.
  type Wake = (record?: SessionRecord) => void;
  const waiters = new Map<string, Set<Wake>>();
  let waiterCount = 0;
  const wake = (id: string, record?: SessionRecord) => {
    const set = waiters.get(id);
    if (!set) return;
    waiters.delete(id);
    waiterCount -= set.size;
    for (const resolve of set) resolve(record);
  };
  await redis.subscribe(key.channel, wake);

  // A subscriber can miss messages (a reconnect, a killed connection) without noticing: every recheckMs the
  // polls held here look at the list of recent changes, so a lost wake-up costs at most that long.
  let seenUntil = 0;
  let checking = false;
  const recheck = setInterval(async () => {
    if (checking || waiters.size === 0) return;
    checking = true;
    try {
      // One second of overlap: a change written just before the last look may carry a slightly older time.
      const [now, ...ids] = (await changes([key.changes], [seenUntil === 0 ? 0 : seenUntil - 1_000])) as string[];
      seenUntil = Number(now);
      for (const id of ids) wake(id);
    } catch (error) {
      log.debug("re-check of waiting polls failed", { error: (error as Error).message });
    } finally {
      checking = false;
    }
  }, options.recheckMs ?? 250);
  recheck.unref?.();

  const parse = (json: unknown) => (typeof json === "string" ? (JSON.parse(json) as SessionRecord) : undefined);

  return {
    name: "redis",
    async insert(record, gate = {}) {
      const charges = gate.charges ?? [];
      // Charges on this Redis are taken by the insert script itself: one round trip for the request.
      let fused = chargesFor(redis, charges);
      if (!fused) {
        await takeCharges(charges);
        fused = { keys: [], args: [0] };
      }
      const { code, ports } = codeKeys(record);
      const indexes = [key.live, ...ports];
      const keys = [key.record(record.id), code, ...indexes];
      const prune = Math.random() < 1 / PRUNE_EVERY ? 1 : 0;
      // Expiries move on in steps of indexSlackMs: most inserts find their indexes' expiry far enough out.
      const until = record.expiresAt + indexSlackMs;
      let refresh = "";
      for (const k of indexes) refresh += (refreshed.get(k) ?? 0) < record.expiresAt ? "1" : "0";
      const args = [record.id, JSON.stringify(record), record.expiresAt, record.expiresAt + retainMs, Date.now(), prune, refresh, until, gate.maxLive ?? ""];
      const answer = await insert([...fused.keys, ...keys], [...fused.args, ...args]);
      if (Array.isArray(answer)) throw charges[Number(answer[0]) - 1]!.refusal(Number(answer[1]));
      if (answer === -1) throw liveCapError(gate.maxLive!);
      if (answer !== 1) return false;
      for (const k of indexes) if ((refreshed.get(k) ?? 0) < record.expiresAt) refreshed.set(k, until);
      return true;
    },
    async get(id) {
      return parse(await redis.command("HGET", [key.record(id), "d"]));
    },
    async getByLink(linkId) {
      return parse(await byLink([key.link(linkId)], [key.record("")]));
    },
    async replace(record, expectedVersion) {
      const { code, ports } = codeKeys(record);
      const keys = [key.record(record.id), code, key.live, key.link(record.linkId ?? "-"), key.changes, ...ports];
      const args = [expectedVersion, JSON.stringify(record), record.version, record.state === "pending" ? 1 : 0, record.id, key.channel, record.linkId ?? ""];
      const replaced = (await replace(keys, args)) === 1;
      // Polls held here learn of it now, not a pub/sub hop later (the message then finds them gone), and
      // answer with this record rather than read it back.
      if (replaced && record.version !== expectedVersion) wake(record.id, record);
      return replaced;
    },
    async candidates(wanted, limit, charges = []) {
      let fused = chargesFor(redis, charges);
      if (!fused || wanted.length === 0) {
        await takeCharges(charges);
        if (wanted.length === 0) return [];
        fused = { keys: [], args: [0] };
      }
      const ports = [...new Set(wanted)].map(portKey);
      const [refused, held, ...found] = (await candidates([...fused.keys, ...ports], [...fused.args, Date.now(), limit, key.record("")])) as string[];
      if (Number(refused) > 0) throw charges[Number(refused) - 1]!.refusal(Number(held));
      const now = Date.now();
      return found.map((json) => JSON.parse(json) as SessionRecord).filter((r) => r.state === "pending" && r.expiresAt > now);
    },
    async changed(id, version, signal) {
      // Past the bound a poll returns at once, as with the memory store, and the client polls again.
      if (signal.aborted || waiterCount >= maxWaiters) return;
      let done!: Wake;
      const waited = new Promise<SessionRecord | undefined>((resolve) => (done = resolve));
      let set = waiters.get(id);
      if (!set) waiters.set(id, (set = new Set()));
      set.add(done);
      waiterCount++;
      const onAbort = () => {
        const current = waiters.get(id);
        if (current?.delete(done)) {
          waiterCount--;
          if (current.size === 0) waiters.delete(id);
        }
        done();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      // The change may have come between the caller's read and this wait: look once now that we listen.
      redis
        .command("HGET", [key.record(id), "v"])
        .then((v) => (v === null || Number(v) > version) && onAbort())
        .catch(() => {});
      const record = await waited;
      signal.removeEventListener("abort", onAbort);
      return record && record.version > version ? record : undefined;
    },
    async liveCount() {
      return Number(await redis.command("ZCOUNT", [key.live, `(${Date.now()}`, "+inf"]));
    },
    async close() {
      clearInterval(recheck);
      for (const id of [...waiters.keys()]) wake(id);
    },
  };
}
