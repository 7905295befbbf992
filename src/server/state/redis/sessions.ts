// The Redis session store: sessions shared by every instance, each change one Lua script, long polls woken by pub/sub.
import type { Logger } from "../../../lib/log.ts";
import { takeCharges } from "../../../lib/rate-limit.ts";
import { CHARGE_PRELUDE, chargesFor, SPEND_FUNCTION } from "./buckets.ts";
import type { RedisConnection } from "./connection.ts";
import { CapacityError } from "../../../lib/errors.ts";
import { type Hold, liveCapError, type SessionRecord, type SessionStore } from "../types.ts";

export interface RedisStoreOptions {
  /** How long a finished or expired session can still be read, in ms. Default 300,000 (as the memory store). */
  retainMs?: number;
  /** Long polls waiting at once in this instance; past it a wait throws CapacityError (503). Default 20,000. */
  maxWaiters?: number;
  /** How often waiting polls look for changes whose message was lost, in ms. Default 250. */
  recheckMs?: number;
  /** How long the live-session index outlives its last entry, in ms (its expiry moves on in steps this long). Default 60,000. */
  indexSlackMs?: number;
}

/** The step, in ms, in which bytes held (SessionStore.replace's hold) are let go: a group's hash has a field per step. */
const HELD_BUCKET_MS = 10_000;

/** One insert in this many prunes the live-session index of expired entries. */
const PRUNE_EVERY = 8;

/** How long the list of recent changes keeps an entry, in ms: it covers a re-check that ran late. */
const CHANGES_KEEP_MS = 10_000;

// Inserts, as many as came in one turn of the event loop (one script run and one round trip for all of them;
// each is still one atomic step, in order). ARGV[1] is their number; then, for each, its charges' keys in
// KEYS and ARGV: their count, then per charge its rate and burst (see buckets.ts); then KEYS record, code,
// live, and ARGV id, json, expiresAt, retainUntil, now, prune (1 or 0), the live index's expiry ('' to leave
// it), the live-session cap ('' for none), the number of quota groups G and each one's bound, with the G groups'
// keys after live in KEYS (each a sorted set of its sessions by expiry). Answers one result per insert: 1
// inserted, 0 the code is live, -1 the cap is reached, -1-g quota g is full, or 'position:tokens' of a refused
// charge; a refused insert writes nothing but the
// charges taken before. A report finds a session by its code key alone (FIND): an insert writes the record,
// the code and one entry of the live index, which is pruned of expired entries on one insert in PRUNE_EVERY;
// its expiry is moved on only when this instance has not moved it far enough yet.
const INSERT = `${SPEND_FUNCTION}
local clocked
local out, k, a = {}, 1, 2
for n = 1, tonumber(ARGV[1]) do
  local result
  for i = 1, tonumber(ARGV[a]) do
    if not result then
      clocked = clocked or clock()
      local held = spend(KEYS[k], tonumber(ARGV[a + 2 * i - 1]), tonumber(ARGV[a + 2 * i]), 1, clocked)
      if held < 1 then result = i .. ':' .. tostring(held) end
    end
    k = k + 1
  end
  a = a + 1 + 2 * tonumber(ARGV[a])
  local record, code, live = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local id, exp, now, cap, groups = ARGV[a], ARGV[a + 2], tonumber(ARGV[a + 4]), ARGV[a + 7], tonumber(ARGV[a + 8])
  if not result and cap ~= '' and redis.call('ZCOUNT', live, '(' .. now, '+inf') >= tonumber(cap) then result = -1 end
  if not result then
    for g = 1, groups do
      if redis.call('ZCOUNT', KEYS[k + 2 + g], '(' .. now, '+inf') >= tonumber(ARGV[a + 8 + g]) then
        result = -1 - g
        break
      end
    end
  end
  if not result then
    if not redis.call('SET', code, id, 'NX', 'PXAT', exp) then result = 0
    else
      redis.call('HSET', record, 'v', 0, 'd', ARGV[a + 1])
      if groups > 0 then redis.call('HSET', record, 'g', table.concat(KEYS, '\\n', k + 3, k + 2 + groups)) end
      redis.call('PEXPIREAT', record, ARGV[a + 3])
      if ARGV[a + 5] == '1' then redis.call('ZREMRANGEBYSCORE', live, '-inf', now) end
      redis.call('ZADD', live, exp, id)
      local expiry = ARGV[a + 6]
      if expiry ~= '' and redis.call('PTTL', live) < tonumber(expiry) - now then redis.call('PEXPIREAT', live, expiry) end
      for g = 1, groups do
        local group = KEYS[k + 2 + g]
        if ARGV[a + 5] == '1' then redis.call('ZREMRANGEBYSCORE', group, '-inf', now) end
        redis.call('ZADD', group, exp, id)
        if redis.call('PTTL', group) < tonumber(exp) - now then redis.call('PEXPIREAT', group, tonumber(exp) + 1000) end
      end
      result = 1
    end
  end
  out[n] = result
  k, a = k + 3 + groups, a + 9 + groups
end
return out`;

/** Inserts sent in one script run at most; more wait for the next. */

const MAX_BATCH = 256;

// KEYS: record, code, live, link, changes, held. ARGV: expected, json, version, pending, id, channel, linkId, and
// for a hold ('' for none) its bytes and bound. Answers 1 replaced, 0 the version moved on, -1 the hold would
// pass its bound (nothing written). A hold is kept in the held hash under the ${HELD_BUCKET_MS} ms step in which
// the record goes (a little late, never early); steps gone by are dropped as the hash is read.
const REPLACE = `
local v = redis.call('HGET', KEYS[1], 'v')
if not v or v ~= ARGV[1] then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ARGV[8] ~= '' then
  local t = redis.call('TIME')
  local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local held, all = 0, redis.call('HGETALL', KEYS[6])
  for i = 1, #all, 2 do
    if tonumber(all[i]) * ${HELD_BUCKET_MS} <= ms then redis.call('HDEL', KEYS[6], all[i])
    else held = held + tonumber(all[i + 1]) end
  end
  if held + tonumber(ARGV[8]) > tonumber(ARGV[9]) then return -1 end
  local gone = ms + math.max(ttl, 0)
  redis.call('HINCRBY', KEYS[6], math.ceil(gone / ${HELD_BUCKET_MS}), ARGV[8])
  if redis.call('PTTL', KEYS[6]) < gone - ms + ${HELD_BUCKET_MS} then redis.call('PEXPIRE', KEYS[6], gone - ms + ${HELD_BUCKET_MS}) end
end
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'd', ARGV[2])
if ARGV[4] == '0' then
  if redis.call('GET', KEYS[2]) == ARGV[5] then redis.call('DEL', KEYS[2]) end
  redis.call('ZREM', KEYS[3], ARGV[5])
  local groups = redis.call('HGET', KEYS[1], 'g')
  if groups then
    for group in string.gmatch(groups, '[^\\n]+') do redis.call('ZREM', group, ARGV[5]) end
    redis.call('HDEL', KEYS[1], 'g')
  end
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

// Charges first (CHARGE_PRELUDE), then K: code keys. A: record key prefix. Answers the position of a refused
// charge (0 for none) and what it held, then the records the codes name (the caller checks they are live).
// Codes are read a thousand at a time: a Lua call takes at most a few thousand arguments.
const FIND = `${CHARGE_PRELUDE}
local refused, held = charge()
if refused > 0 then return {refused, tostring(held)} end
local out = {0, ''}
for from = 1, #K, 1000 do
  local ids = redis.call('MGET', unpack(K, from, math.min(from + 999, #K)))
  for i = 1, #ids do
    if ids[i] then
      local d = redis.call('HGET', A[1] .. ids[i], 'd')
      if d then out[#out + 1] = d end
    end
  end
end
return out`;

// KEYS: link. ARGV: record key prefix.
const BY_LINK = `
local id = redis.call('GET', KEYS[1])
if not id then return false end
return redis.call('HGET', ARGV[1] .. id, 'd')`;

// KEYS: changes. ARGV: since (ms, Redis clock; 0 for none). Returns the Redis clock, then each id changed since
// and when (ms, Redis clock).
const CHANGES = `
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf', 'WITHSCORES')
table.insert(ids, 1, tostring(ms))
return ids`;

/** What a re-check allows for between a change's time in Redis and a wait's start here, in ms. */
const RECHECK_SLACK_MS = 50;

/** A session store in Redis; sessions expire in Redis with what they hold (see README, "Running several instances"). */
export async function redisStore(redis: RedisConnection, log: Logger, options: RedisStoreOptions = {}): Promise<SessionStore> {
  const retainMs = options.retainMs ?? 300_000;
  const maxWaiters = options.maxWaiters ?? 20_000;
  const indexSlackMs = options.indexSlackMs ?? 60_000;
  const p = redis.prefix;
  const key = {
    record: (id: string) => `${p}s:${id}`,
    link: (linkId: string) => `${p}link:${linkId}`,
    live: `${p}live`,
    changes: `${p}changes`,
    group: (name: string) => `${p}quota:${name}`,
    held: (name: string) => `${p}held:${name}`,
    channel: `${p}changed`,
  };
  // The expiry this instance last gave the live index (a lower bound: another instance may have moved it
  // further). Deleted meanwhile (emptied, or Redis restarted), it goes without expiry until this runs past
  // it, at most indexSlackMs: a late expiry, never a lost entry.
  let refreshed = 0;
  /** A code's key: its ports sorted (`ports` is sorted in place). */
  const codeKeyOf = (ports: number[]) => `${p}code:${ports.sort((x, y) => x - y).join(",")}`;
  const insert = redis.script(INSERT);
  const replace = redis.script(REPLACE);
  const find = redis.script(FIND);
  const byLink = redis.script(BY_LINK);
  const changes = redis.script(CHANGES);

  // Long polls held by this instance, by session id, each with when it began (this process's steady clock, in
  // ms): each resolves at the next change of its session, with the record when this instance made the change.
  type Wake = (record?: SessionRecord) => void;
  const waiters = new Map<string, Map<Wake, number>>();
  let waiterCount = 0;
  const steady = () => performance.timeOrigin + performance.now();
  const wake = (id: string, record?: SessionRecord) => {
    const set = waiters.get(id);
    if (!set) return;
    waiters.delete(id);
    waiterCount -= set.size;
    for (const resolve of set.keys()) resolve(record);
  };
  // The re-check wakes only the waits that began before the change (`changedAt` on this clock): a wait that
  // began after it looked at the version itself when it began.
  const wakeBegunBefore = (id: string, changedAt: number) => {
    const set = waiters.get(id);
    if (!set) return;
    for (const [resolve, began] of set) {
      if (began - RECHECK_SLACK_MS > changedAt) continue;
      set.delete(resolve);
      waiterCount--;
      resolve();
    }
    if (set.size === 0) waiters.delete(id);
  };
  await redis.subscribe(key.channel, (id) => wake(id));

  // A subscriber can miss messages (a reconnect, a killed connection) without noticing: every recheckMs the
  // polls held here look at the list of recent changes, so a lost wake-up costs at most that long.
  let seenUntil = 0;
  let checking = false;
  const recheck = setInterval(async () => {
    if (checking || waiters.size === 0) return;
    checking = true;
    try {
      // One second of overlap: a change written just before the last look may carry a slightly older time.
      const [now, ...changed] = (await changes([key.changes], [seenUntil === 0 ? 0 : seenUntil - 1_000])) as string[];
      seenUntil = Number(now);
      // Redis's clock minus this one's, read now: never above the true difference (the answer arrives after
      // Redis read its clock), so a change is never placed after a wait it came before.
      const offset = Number(now) - steady();
      for (let i = 0; i + 1 < changed.length; i += 2) wakeBegunBefore(changed[i]!, Number(changed[i + 1]) - offset);
    } catch (error) {
      log.debug("re-check of waiting polls failed", { error: (error as Error).message });
    } finally {
      checking = false;
    }
  }, options.recheckMs ?? 250);
  recheck.unref?.();

  // Inserts waiting for the next turn of the event loop, sent together: Redis spent about as long starting a
  // script run as in the insert's own commands, and this process about as long sending it.
  type Queued = { keys: string[]; args: Array<string | number>; resolve: (answer: unknown) => void; reject: (error: unknown) => void };
  let batch: Queued[] = [];
  function flush(): void {
    const sent = batch;
    if (sent.length === 0) return;
    batch = [];
    const keys: string[] = [];
    const args: Array<string | number> = [sent.length];
    for (const q of sent) {
      for (const k of q.keys) keys.push(k);
      for (const v of q.args) args.push(v);
    }
    // A failed run fails every insert in it, though Redis keeps what the inserts before the failure wrote (a
    // script is not undone): as a timed-out single insert, such a session counts against the cap until it
    // expires and is never handed out.
    insert(keys, args).then(
      (answers) => {
        if (!Array.isArray(answers) || answers.length !== sent.length) {
          const error = new Error(`the insert script answered ${JSON.stringify(answers).slice(0, 100)} for ${sent.length} inserts`);
          for (const q of sent) q.reject(error);
          return;
        }
        for (let i = 0; i < sent.length; i++) sent[i]!.resolve(answers[i]);
      },
      (error) => {
        for (const q of sent) q.reject(error);
      },
    );
  }

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
      const prune = Math.random() < 1 / PRUNE_EVERY ? 1 : 0;
      // The live index's expiry moves on in steps of indexSlackMs: most inserts find it far enough out.
      const until = refreshed < record.expiresAt ? record.expiresAt + indexSlackMs : "";
      const quotas = gate.quotas ?? [];
      const keys = [...fused.keys, key.record(record.id), codeKeyOf(record.tuples.flat()), key.live, ...quotas.map((q) => key.group(q.group))];
      const args = [
        ...fused.args,
        ...[record.id, JSON.stringify(record), record.expiresAt, record.expiresAt + retainMs, Date.now(), prune, until, gate.maxLive ?? ""],
        ...[quotas.length, ...quotas.map((q) => q.max)],
      ];
      const answer = await new Promise<unknown>((resolve, reject) => {
        batch.push({ keys, args, resolve, reject });
        if (batch.length >= MAX_BATCH) flush();
        else if (batch.length === 1) setImmediate(flush);
      });
      if (typeof answer === "string") {
        const [position, held] = answer.split(":");
        throw charges[Number(position) - 1]!.refusal(Number(held));
      }
      if (answer === -1) throw liveCapError(gate.maxLive!);
      if (typeof answer === "number" && answer < -1) throw quotas[-answer - 2]!.refusal();
      if (answer !== 1) return false;
      if (until !== "" && until > refreshed) refreshed = until;
      return true;
    },
    async get(id) {
      return parse(await redis.command("HGET", [key.record(id), "d"]));
    },
    async getByLink(linkId) {
      return parse(await byLink([key.link(linkId)], [key.record("")]));
    },
    async replace(record, expectedVersion, hold?: Hold) {
      const keys = [key.record(record.id), codeKeyOf(record.tuples.flat()), key.live, key.link(record.linkId ?? "-"), key.changes, key.held(hold?.group ?? "-")];
      const args = [
        ...[expectedVersion, JSON.stringify(record), record.version, record.state === "pending" ? 1 : 0, record.id, key.channel, record.linkId ?? ""],
        ...(hold ? [hold.bytes, hold.max] : ["", ""]),
      ];
      const answer = await replace(keys, args);
      if (answer === -1) throw hold!.refusal();
      const replaced = answer === 1;
      // Polls held here learn of it now, not a pub/sub hop later (the message then finds them gone), and
      // answer with this record rather than read it back.
      if (replaced && record.version !== expectedVersion) wake(record.id, record);
      return replaced;
    },
    async find(codes, charges = []) {
      let fused = chargesFor(redis, charges);
      if (!fused || codes.length === 0) {
        await takeCharges(charges);
        if (codes.length === 0) return [];
        fused = { keys: [], args: [0] };
      }
      const keys = codes.map((code) => codeKeyOf([...code]));
      const [refused, held, ...found] = (await find([...fused.keys, ...keys], [...fused.args, key.record("")])) as string[];
      if (Number(refused) > 0) throw charges[Number(refused) - 1]!.refusal(Number(held));
      const now = Date.now();
      const live = new Map<string, SessionRecord>();
      for (const json of found) {
        const r = JSON.parse(json) as SessionRecord;
        if (r.state === "pending" && r.expiresAt > now) live.set(r.id, r);
      }
      return [...live.values()];
    },
    async changed(id, version, signal) {
      if (signal.aborted) return;
      // Resolving here would have the caller read and wait again at once: a stream of round trips.
      if (waiterCount >= maxWaiters) throw new CapacityError(`too many long polls waiting (${maxWaiters}); poll again shortly`);
      let done!: Wake;
      const waited = new Promise<SessionRecord | undefined>((resolve) => (done = resolve));
      let set = waiters.get(id);
      if (!set) waiters.set(id, (set = new Map()));
      set.set(done, steady());
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
