// The Redis session store: sessions shared by every instance, each change one Lua script, long polls woken by pub/sub.
import type { Logger } from "../../../lib/log.ts";
import { takeCharges } from "../../../lib/rate-limit.ts";
import { chargesFor } from "./buckets.ts";
import { keyspace, type RedisConnection } from "./connection.ts";
import { BY_LINK, CHANGES, FIND, INSERT, REPLACE } from "./scripts/index.ts";
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

/** One insert in this many prunes the live-session index of expired entries. */
const PRUNE_EVERY = 8;

/** Inserts sent in one script run at most; more wait for the next. */
const MAX_BATCH = 256;

/** What a re-check allows for between a change's time in Redis and a wait's start here, in ms. */
const RECHECK_SLACK_MS = 50;

/** A session store in Redis; sessions expire in Redis with what they hold (see README, "Running several instances"). */
export async function redisStore(
  redis: RedisConnection,
  log: Logger,
  options: RedisStoreOptions = {},
): Promise<SessionStore> {
  const retainMs = options.retainMs ?? 300_000;
  const maxWaiters = options.maxWaiters ?? 20_000;
  const indexSlackMs = options.indexSlackMs ?? 60_000;
  // One hash tag for all of them in a Cluster: an insert checks the code, the live cap and the quotas in one step.
  const p = keyspace(redis, "sessions");
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
  type Queued = {
    keys: string[];
    args: Array<string | number>;
    resolve: (answer: unknown) => void;
    reject: (error: unknown) => void;
  };
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
          const error = new Error(
            `the insert script answered ${JSON.stringify(answers).slice(0, 100)} for ${sent.length} inserts`,
          );
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
      const keys = [
        ...fused.keys,
        key.record(record.id),
        codeKeyOf(record.tuples.flat()),
        key.live,
        ...quotas.map((q) => key.group(q.group)),
      ];
      const args = [
        ...fused.args,
        ...[
          record.id,
          JSON.stringify(record),
          record.expiresAt,
          record.expiresAt + retainMs,
          Date.now(),
          prune,
          until,
          gate.maxLive ?? "",
        ],
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
      const keys = [
        key.record(record.id),
        codeKeyOf(record.tuples.flat()),
        key.live,
        key.link(record.linkId ?? "-"),
        key.changes,
        key.held(hold?.group ?? "-"),
      ];
      const args = [
        ...[
          expectedVersion,
          JSON.stringify(record),
          record.version,
          record.state === "pending" ? 1 : 0,
          record.id,
          key.channel,
          record.linkId ?? "",
        ],
        ...(hold ? [hold.bytes, hold.max] : ["", ""]),
        redis.cluster ? "SPUBLISH" : "PUBLISH",
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
      const [refused, held, ...found] = (await find(
        [...fused.keys, ...keys],
        [...fused.args, key.record("")],
      )) as string[];
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
      if (waiterCount >= maxWaiters)
        throw new CapacityError(`too many long polls waiting (${maxWaiters}); poll again shortly`);
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
