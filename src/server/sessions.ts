// What the server does, apart from HTTP: issue codes, match reports against live codes, relay instructions.
import {
  CapacityError,
  InvalidInputError,
  NotFoundError,
  SessionEndedError,
  TooManyCompletionsError,
} from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { type Charge, takeCharges } from "../lib/rate-limit.ts";
import type { BindFailureStrategy } from "../protocol/bind-failure.ts";
import { type CodeShape, drawCode, knockCount, randomId } from "../protocol/code.ts";
import { originRefusal } from "../protocol/origin-proof.ts";
import type { PortRange } from "../lib/ports.ts";
import { inRange } from "../protocol/ports.ts";
import { MAX_ARGS_BYTES } from "../protocol/schemas.ts";
import type {
  Ack,
  Instruction,
  InstructionRequest,
  InstructionStatus,
  NoLinkCode,
  Report,
  ReportAnswer,
  ServiceConfig,
  SessionOffer,
  SessionStatus,
} from "../protocol/schemas.ts";
import { DEFAULT_QUOTAS, quotas } from "./quotas.ts";
import {
  type Hold,
  type InsertGate,
  type InstructionRecord,
  NO_INSTRUCTIONS,
  type SessionRecord,
  type SessionStore,
} from "./state/types.ts";

/** The server's knobs that shape sessions and matching (see `pkipc server --help` for defaults). */
export interface SessionSettings {
  range: PortRange;
  shape: CodeShape;
  ttlMs: number;
  settleMs: number;
  idleMs: number;
  bindFailure: BindFailureStrategy;
  maxMissing: number;
  maxFailed: number;
  maxCompletions: number;
  /** Pending sessions of API keys at once; past it, creating one fails with CapacityError (503). Page sessions count apart. */
  maxLiveSessions: number;
  /** Pending sessions pages (no API key) may hold at once in all; past it 503. Default {@link DEFAULT_QUOTAS}. */
  maxPageSessions?: number;
  /** Pending page sessions of one client network (IPv4 address, IPv6 /64); past it 429. Default {@link DEFAULT_QUOTAS}. */
  maxPageSessionsPerClient?: number;
  /** Pending sessions of one API key; past it 429. Default {@link DEFAULT_QUOTAS}. */
  maxSessionsPerApiKey?: number;
  /** Bytes of instruction args one API key may hold in sessions still kept; past it 429. Default {@link DEFAULT_QUOTAS}. */
  maxArgsBytesPerApiKey?: number;
  /** Longest long poll, in ms. */
  maxWaitMs: number;
  /** Instructions one session may carry. */
  maxInstructions: number;
  /** How long a linked session takes instructions after its link, in ms (--link-ttl). */
  linkTtlMs: number;
}

/**
 * How long a store keeps a session after its code expired, for a server whose links live `linkTtlMs`: the
 * whole link, and a minute more to read its last results (at least the stores' 5 minutes).
 */
export const retentionFor = (linkTtlMs: number) => Math.max(300_000, linkTtlMs + 60_000);

export interface Sessions {
  config(): ServiceConfig;
  /** How long a linked session takes instructions after its link, in ms (told to services in LINK_TTL_HEADER). */
  readonly linkTtlMs: number;
  /**
   * A new session. `charges` are the rate-limit tokens the request owes (see Guard.sessionCharges): taken in
   * the same step as the insert, so a refused one answers 429 and issues nothing.
   */
  create(who: SessionCreator, charges?: readonly Charge[]): Promise<SessionOffer>;
  /**
   * The status; with waitMs > 0, waits until the version passes `since` (or the session ends). Without a
   * `viewer`, the page's view: progress only. A viewer (an API key) sees everything of its own sessions.
   */
  status(
    id: string,
    options?: { waitMs?: number; since?: number; signal?: AbortSignal; viewer?: Viewer },
  ): Promise<SessionStatus>;
  /** Only a viewer whose session this is (its API key made it, or a page of the key's origin did) may queue. */
  queueInstruction(id: string, request: InstructionRequest, viewer: Viewer): Promise<InstructionStatus>;
  /**
   * `address` is the reporting service's address; `serviceId` the enrolled service that signed the report.
   * `charges` (see Guard.reportCharges) are taken before anything is matched, in the store's step: a refused
   * one answers 429 and links nothing.
   */
  report(report: Report, address: string, serviceId?: string, charges?: readonly Charge[]): Promise<ReportAnswer>;
  /**
   * A report this server refused because it does not know the service that sent it (unsigned, or signed by an
   * unknown id: `why`): the sessions made for `address` that its knocks fit are marked SERVICE_NOT_ENROLLED,
   * so their page and backend learn why nothing links instead of waiting out their timeout. The report proves
   * nothing (any local program that saw the ports can send it first): the backend sees the reason only once the
   * session stayed pending for unprovenGraceMs; a link meanwhile wins. Links nothing. `charges` as for report().
   */
  unknownServiceReport(report: Report, address: string, why: string, charges?: readonly Charge[]): Promise<void>;
  /**
   * Instructions queued for a linked service since its report; waits up to waitMs for one. Only the linking
   * service may pull. `linkTtlMs`: how long from now the link takes instructions. A link that ended throws
   * SessionEndedError.
   */
  pull(
    linkId: string,
    waitMs: number,
    signal?: AbortSignal,
    serviceId?: string,
  ): Promise<{ instructions: Instruction[]; linkTtlMs: number }>;
  acknowledge(linkId: string, acks: Ack[], serviceId?: string): Promise<void>;
  /** Shutting down: every long poll, held or to come, answers at once. */
  drain(): void;
}

/** Who asked for a session: the user's address, and the web origin and API key behind it, if any. */
export interface SessionCreator {
  address: string;
  origin?: string;
  apiKeyId?: string;
}

/** A SaaS backend reading or instructing sessions: its API key's id and the origin the key was issued for. */
export interface Viewer {
  id: string;
  origin: string;
}

/**
 * Whether `viewer` may see and instruct `record`. A session made with an API key belongs to that key
 * alone: two keys issued for one origin (two backends, or a key given to a contractor) must not read or
 * instruct each other's users. A session a page made (no key) belongs to the page's origin, so every key
 * of that origin may: the page has no key to name, and the operator issued each of them for that origin.
 */
const belongsTo = (record: SessionRecord, viewer: Viewer) =>
  record.apiKeyId !== undefined
    ? record.apiKeyId === viewer.id
    : record.origin !== undefined && record.origin === viewer.origin;

/** Who may link what (see SecuritySettings). */
export interface LinkPolicy {
  /** A report links only sessions created from the address the service reports from. Default true. */
  bindOrigin: boolean;
}

/** Turns of a long poll's wait at most: each is a real wait, so honest polls never reach it; a store that woke it in vain cannot spin it. */
const MAX_WAIT_TURNS = 64;

const DRAW_ATTEMPTS = 16;

/** Sessions whose instructions' deadlines one server watches at once (for instruction.expired): a bound. */
const MAX_EXPIRY_TIMERS = 100_000;
/** Longest a timer may be set for (setTimeout's limit); a later deadline is looked at again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The next moment an open instruction of `record` reads expired with no write, or Infinity. */
function nextInstructionExpiry(record: SessionRecord, linkTtlMs: number): number {
  let next = Number.POSITIVE_INFINITY;
  for (const i of record.instructions) {
    if (i.state !== "queued" && i.state !== "delivered") continue;
    next = Math.min(next, sessionEnd(record, linkTtlMs));
    if (i.state === "queued" && i.expiresAt !== undefined) next = Math.min(next, i.expiresAt);
  }
  return next;
}
const CAS_ATTEMPTS = 8;

function noLink(code: NoLinkCode, reason: string, origin?: string): ReportAnswer {
  return { linked: false, code, reason, instructions: [], ...(origin === undefined ? {} : { origin }) };
}

/** How a service's allow-list names a session's origin: sessions of non-browser clients have none. */
const originName = (origin: string | undefined) => origin ?? "none";

/** When a session stops taking instructions: its code's expiry while pending, its link's end once linked. */
function sessionEnd(record: SessionRecord, linkTtlMs: number): number {
  if (record.state === "pending") return record.expiresAt;
  // a record linked by an instance of 0.2 has no linkEndsAt: it gets this server's lifetime
  return record.linkEndsAt ?? (record.linkedAt ?? record.createdAt) + linkTtlMs;
}

/** Whether an instruction may still be delivered: queued, and its own deadline (if any) not passed. */
const deliverable = (i: InstructionRecord, now: number) =>
  i.state === "queued" && (i.expiresAt === undefined || i.expiresAt > now);

/** An instruction as read: its stored state, or "expired". */
type InstructionView = InstructionRecord;

/**
 * An instruction as its backend reads it: one that can no longer be answered reads `expired`, with why (the
 * store keeps it queued or delivered; time alone changes it, so no write is needed and none can be missed).
 */
function instructionView(record: SessionRecord, i: InstructionRecord, now: number, linkTtlMs: number): InstructionView {
  if (i.state !== "queued" && i.state !== "delivered") return i;
  if (now >= sessionEnd(record, linkTtlMs)) {
    if (record.state === "pending")
      return { ...i, state: "expired", result: "the session expired before a service linked it" };
    const why =
      i.state === "queued"
        ? "the link ended before the service asked for it"
        : "the service did not answer before the link ended";
    return { ...i, state: "expired", result: why };
  }
  if (i.state === "queued" && i.expiresAt !== undefined && now >= i.expiresAt) {
    return { ...i, state: "expired", result: "not delivered to a service before its own deadline (ttlMs)" };
  }
  return i;
}

/**
 * The next moment at which the status reads differently with no write (a deadline passing), after `now`;
 * Infinity when none is ahead. A long poll wakes then.
 */
function nextDeadline(record: SessionRecord, now: number, linkTtlMs: number, full: boolean): number {
  let next = Number.POSITIVE_INFINITY;
  const end = sessionEnd(record, linkTtlMs);
  const open = record.instructions.some((i) => i.state === "queued" || i.state === "delivered");
  if (end > now && (record.state === "pending" || open)) next = end;
  const shown = hiddenUntil(record, full);
  if (shown > now) next = Math.min(next, shown);
  for (const i of record.instructions) {
    if (i.state === "queued" && i.expiresAt !== undefined && i.expiresAt > now) next = Math.min(next, i.expiresAt);
  }
  return next;
}

/**
 * What the server's timing leaves a service to report after an unproven report came (see unprovenGraceMs), on
 * top of the knocks and the idle gap: its attribution (reading /proc) and one request, on a loaded machine. The
 * page allows a service 1.25 s for the same (NO_REPORT_GRACE_MS); this is a little more, since a backend that
 * hears the reason too early gives up on a session that was about to link.
 */
const UNPROVEN_MARGIN_MS = 1500;

/**
 * How long a reason an unproven report gave (SERVICE_NOT_ENROLLED: an unsigned report, or one signed by an
 * unknown service) stays hidden from the backend, in ms. Any local program of another user that saw the knocked
 * ports (in /proc/net/tcp) can send one as the knocks land, before the real service reports. The real service
 * reports the idle gap after the last knock, and the last knock goes out at most a settle pause per tuple after
 * the first one lands; then its attribution and request (UNPROVEN_MARGIN_MS). With the defaults (settle 0,
 * idle 250 ms) 1.75 s: a link within it wins and the reason never shows; a session still pending after it
 * shows the reason (a service that is really not enrolled is named about 2 s after the knocks).
 */
export const unprovenGraceMs = (settings: Pick<SessionSettings, "settleMs" | "idleMs" | "shape">) =>
  settings.settleMs * settings.shape.tuples + settings.idleMs + UNPROVEN_MARGIN_MS;

/**
 * Until when the failure of `record` is hidden from this view (epoch ms; 0 when it is not hidden, or there is none).
 * Only a reason an unproven report gave is hidden (see unprovenGraceMs), and only from the backend (`full`): the
 * page's link() and pkipc client already take it as a hint that stops nothing until their knocks are over and no
 * service linked, and the page decides NO_SERVICE 1.5 s after its last knock, before the grace ends. While an
 * enrolled service asks its user (proposedAt), an unproven reason never shows: a service this server knows took
 * the knocks.
 */
function hiddenUntil(record: SessionRecord, full: boolean): number {
  const failure = record.failure;
  if (!full || record.state !== "pending" || failure?.visibleAt === undefined) return 0;
  return record.proposedAt === undefined ? failure.visibleAt : Number.POSITIVE_INFINITY;
}

/**
 * Whether a failure already noted says as much as `next`: an unproven reason never replaces a proven one (a
 * hostile report must not hide what a signed one said), and the same reason is not noted twice (a flood of the
 * same report writes nothing more) unless it comes proven this time.
 */
function notedAlready(current: SessionRecord["failure"], next: NonNullable<SessionRecord["failure"]>): boolean {
  if (current === undefined) return false;
  const proven = (f: NonNullable<SessionRecord["failure"]>) => f.visibleAt === undefined;
  if (proven(current) && !proven(next)) return true;
  return current.reason === next.reason && (proven(current) || !proven(next));
}

/**
 * The sentence of a pending session's failure. ADDRESS_MISMATCH names both addresses to the backend, and to the
 * page of a session a backend made (its backend stated the address); the page of a session a page made (anyone
 * may make one) is not told where the service reports from.
 */
function failureDetail(record: SessionRecord, full: boolean): string {
  const failure = record.failure!;
  if (failure.reason === "SERVICE_NOT_ENROLLED") {
    return (
      `a pkipc service on this computer took the knocks, but this server does not know it (${failure.why ?? "unknown service"}): ` +
      `it is not enrolled with this server, its enrollment was revoked, or it serves another server; enroll it here (pkipc service --enroll TOKEN)`
    );
  }
  if (failure.reason === "ORIGIN_NOT_PROVEN") {
    return (
      `a pkipc service took the knocks, but they do not prove the session's web origin (${failure.why ?? "no origin"}): ` +
      "knock with a transport that carries the page's Origin (fetch or ws; TLS knocks carry none in Chromium and Firefox), from a page of the session's origin"
    );
  }
  if (failure.reason === "SERVICE_REFUSED_ORIGIN") {
    return `the pkipc service on this computer does not allow ${originName(record.origin)}: its user may allow it (pkipc service origins, or pkipc service --allow-origins)`;
  }
  if (record.apiKeyId === undefined && !full) {
    return "a pkipc service took the knocks but reports from another address than this page's: a proxy or VPN between them? the server links only a service reporting from the page's address";
  }
  return (
    `the session was made for the user address ${record.address}, but the pkipc service that took its knocks reports from ${failure.reportedFrom ?? "another address"}: ` +
    `the backend must state the address the user's browser reaches the pkipc server from (one that states none makes the session for its own address)`
  );
}

/**
 * The status as `full` (the owning backend) or the page sees it: a page learns the progress of its own
 * session, never who linked it nor what the service answered.
 */
export function toStatus(record: SessionRecord, now: number, full: boolean, linkTtlMs: number): SessionStatus {
  const expired = record.state === "pending" && record.expiresAt <= now;
  return {
    id: record.id,
    state: expired ? "expired" : record.state,
    version: record.version,
    expiresAt: new Date(record.expiresAt).toISOString(),
    ...(record.linkedAt === undefined ? {} : { linkedAt: new Date(record.linkedAt).toISOString() }),
    ...(record.state === "linked" ? { linkEndsAt: new Date(sessionEnd(record, linkTtlMs)).toISOString() } : {}),
    ...(record.state === "declined" ? { reason: "DECLINED" as const } : {}),
    ...(record.state === "pending" && record.failure && hiddenUntil(record, full) <= now
      ? { reason: record.failure.reason, detail: failureDetail(record, full) }
      : {}),
    ...(record.state === "pending" && record.proposedAt !== undefined && !expired ? { confirming: true as const } : {}),
    ...(full && record.origin !== undefined ? { origin: record.origin } : {}),
    ...(full && record.process ? { process: record.process } : {}),
    instructions: record.instructions.map((instruction) => {
      const { id, name, state, result } = instructionView(record, instruction, now, linkTtlMs);
      return result === undefined || !full ? { id, name, state } : { id, name, state, result };
    }),
  };
}

/** The quota settings of `settings`, each unset one at its default. */
function quotaSettings(settings: SessionSettings) {
  const { maxPageSessions, maxPageSessionsPerClient, maxSessionsPerApiKey, maxArgsBytesPerApiKey } = settings;
  return {
    maxLiveSessions: settings.maxLiveSessions,
    maxPageSessions: maxPageSessions ?? DEFAULT_QUOTAS.maxPageSessions,
    maxPageSessionsPerClient: maxPageSessionsPerClient ?? DEFAULT_QUOTAS.maxPageSessionsPerClient,
    maxSessionsPerApiKey: maxSessionsPerApiKey ?? DEFAULT_QUOTAS.maxSessionsPerApiKey,
    maxArgsBytesPerApiKey: maxArgsBytesPerApiKey ?? DEFAULT_QUOTAS.maxArgsBytesPerApiKey,
  };
}

/** Bytes of an instruction's args, keys and values, as UTF-8. */
const argsBytes = (args: Readonly<Record<string, string>>) =>
  Object.entries(args).reduce((sum, [k, v]) => sum + Buffer.byteLength(k) + Buffer.byteLength(v), 0);

/** A wait's deadline: its signal, and `clear()` to let go of its timer and listeners once the wait is over. */
interface Deadline {
  signal: AbortSignal;
  clear(): void;
}

/**
 * A signal that aborts `ms` from now, when `parent` aborts, or when the server drains (`held`: the aborts
 * drain() calls). A timer of its own, not AbortSignal.timeout: nothing held that signal but the waiters'
 * listeners, and under a flood the collector took some (seen: 913 of 3,000 held polls never answered).
 * One per poll, whatever its turns: a held poll costs a timer, a controller and a waiter.
 */
function deadline(ms: number, parent: AbortSignal | undefined, held: Set<() => void>): Deadline {
  const controller = new AbortController();
  const abort = () => controller.abort();
  const timer = setTimeout(abort, Math.max(0, ms));
  parent?.addEventListener("abort", abort, { once: true });
  held.add(abort);
  if (parent?.aborted) abort();
  return {
    signal: controller.signal,
    clear() {
      clearTimeout(timer);
      parent?.removeEventListener("abort", abort);
      held.delete(abort);
    },
  };
}

export function createSessions(
  settings: SessionSettings,
  store: SessionStore,
  log: Logger,
  policy: LinkPolicy = { bindOrigin: true },
  /** Told of every change this server stored (before, after), once it is stored: webhooks (see webhooks/). Must not throw or wait. */
  observe?: (before: SessionRecord, after: SessionRecord) => void,
): Sessions {
  const knocks = knockCount(settings.shape);
  const unprovenGrace = unprovenGraceMs(settings);
  // Sessions issued in the same millisecond expire in the same one: its text is made once, not a Date each.
  let lastTime = Number.NaN;
  let lastText = "";
  const isoTime = (ms: number) => {
    if (ms !== lastTime) {
      lastText = new Date(ms).toISOString();
      lastTime = ms;
    }
    return lastText;
  };
  const strategy = () => settings.bindFailure;
  const quota = quotas(quotaSettings(settings));
  const stopping = new AbortController();
  /** The abort of every wait in progress: drain() calls them all. */
  const waits = new Set<() => void>();
  /**
   * Instructions expire by time alone (reads say so without a write). For a session of an API key (whose
   * webhook hears its instructions' ends), the server that changed it also stores each expiry once its
   * deadline passes: the change makes the `instruction.expired` event, once, however many servers race
   * (the compare-and-set lets one write it; the others find nothing left to change).
   */
  const expiryTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** How many times a failed store of expiries is tried again (after 1, 2, 4, 8 and 16 s). */
  const EXPIRY_RETRIES = 5;
  function watchExpiry(record: SessionRecord): void {
    const at =
      record.apiKeyId === undefined ? Number.POSITIVE_INFINITY : nextInstructionExpiry(record, settings.linkTtlMs);
    const old = expiryTimers.get(record.id);
    if (old !== undefined) clearTimeout(old);
    expiryTimers.delete(record.id);
    if (at === Number.POSITIVE_INFINITY || stopping.signal.aborted) return;
    if (expiryTimers.size >= MAX_EXPIRY_TIMERS) {
      log.warn(
        "too many sessions with instructions to watch: an expiry sends no webhook event (reads still say expired)",
        { session: record.id },
      );
      return;
    }
    arm(record.id, Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now()) + 5), 0);
  }
  /**
   * Stores `id`'s expiries after `delayMs`. A store that fails then (Redis away a moment) is asked again after a
   * doubling pause, a few times: the event would otherwise never be sent (reads still say expired).
   */
  function arm(id: string, delayMs: number, failures: number): void {
    const timer = setTimeout(() => {
      expiryTimers.delete(id);
      storeExpiries(id).catch((error: unknown) => {
        const retry = failures < EXPIRY_RETRIES && !stopping.signal.aborted && !expiryTimers.has(id);
        log.warn(`could not store an instruction's expiry${retry ? "; trying again" : ""}`, {
          session: id,
          error: (error as Error).message,
        });
        if (retry) arm(id, 1000 * 2 ** failures, failures + 1);
      });
    }, delayMs);
    (timer as { unref?: () => void }).unref?.();
    expiryTimers.set(id, timer);
  }
  async function storeExpiries(id: string): Promise<void> {
    const changed = await update(
      () => store.get(id),
      (record) => {
        const now = Date.now();
        let any = false;
        const instructions = record.instructions.map((i) => {
          const view = instructionView(record, i, now, settings.linkTtlMs);
          if (view.state !== "expired" || i.state === "expired") return i;
          any = true;
          return view;
        });
        return any ? { ...record, instructions } : undefined;
      },
    );
    // nothing to store yet (a timer cut at its limit, or a write moved the deadline): look again
    if (!changed) {
      const record = await store.get(id);
      if (record) watchExpiry(record);
    }
  }

  /** The link as seen by a service: another service's link reads as missing, so link ids cannot be probed. */
  const linkOf = async (linkId: string, serviceId: string | undefined) => {
    const record = await store.getByLink(linkId);
    return record && (record.serviceId === undefined || record.serviceId === serviceId) ? record : undefined;
  };

  /** Applies `change` to a session with compare-and-set, retrying when another writer got there first. */
  async function update(
    load: () => Promise<SessionRecord | undefined>,
    change: (record: SessionRecord) => SessionRecord | undefined,
    hold?: Hold,
  ): Promise<SessionRecord | undefined> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const record = await load();
      if (!record) return undefined;
      const changed = change(record);
      if (!changed) return undefined;
      // a new object: records from the store are immutable values (see store/types.ts)
      const next = { ...changed, version: record.version + 1 };
      if (await store.replace(next, record.version, hold)) {
        observe?.(record, next);
        watchExpiry(next);
        return next;
      }
    }
    throw new CapacityError("the session is changing too often to update; try again");
  }

  async function mustGet(id: string): Promise<SessionRecord> {
    const record = await store.get(id);
    if (!record) throw new NotFoundError("no such session (it may have expired)");
    return record;
  }

  /**
   * A proposal: the session's origin and what it will ask, so the local user can say yes or no. Each
   * instruction's args are left out (a secret stays on the server until the link) but for a `name`, which
   * names the key a `key` instruction would write.
   */
  async function propose(record: SessionRecord): Promise<ReportAnswer> {
    // Noted once, so the page knows a service is asking its user and waits for the answer rather than
    // conclude that no service is there.
    if (record.proposedAt === undefined) {
      await update(
        () => store.get(record.id),
        (current) =>
          current.state === "pending" && current.proposedAt === undefined
            ? { ...current, proposedAt: Date.now() }
            : undefined,
      );
    }
    const now = Date.now();
    const asked = record.instructions
      .filter((i) => deliverable(i, now))
      .map(
        ({ id, name, args }): Instruction => ({
          id,
          name,
          args: args.name === undefined ? {} : { name: args.name.slice(0, 256) },
        }),
      );
    return {
      ...noLink(
        "PROPOSED",
        `the knocks fit a session of ${originName(record.origin)}; not linked (proposal only)`,
        record.origin,
      ),
      instructions: asked,
    };
  }

  /** The local user said no: the session ends as declined, which its page and backend see on their next poll. */
  async function decline(record: SessionRecord): Promise<ReportAnswer> {
    const why = `the local user declined the session of ${originName(record.origin)}`;
    // Its instructions end with it, refused with the reason: a backend waiting on one hears at once and its
    // webhook fires (queueing more is refused below, so no new args are held for a session that cannot deliver).
    const declined = await update(
      () => store.get(record.id),
      (current) =>
        current.state === "pending" && current.expiresAt > Date.now()
          ? {
              ...current,
              state: "declined",
              instructions: current.instructions.map((i) =>
                i.state === "queued" || i.state === "delivered"
                  ? { ...i, state: "refused", result: `DECLINED: ${why}` }
                  : i,
              ),
            }
          : undefined,
    );
    // linked (or expired) meanwhile: the answer says so rather than claim a decline that did not happen
    if (!declined)
      return noLink(
        "ALREADY_LINKED",
        `the session of ${originName(record.origin)} is no longer pending; nothing was declined`,
        record.origin,
      );
    return noLink("DECLINED", why, record.origin);
  }

  /** Notes why a pending session will not link, unless it says so already (see notedAlready). */
  async function fail(record: SessionRecord, failure: NonNullable<SessionRecord["failure"]>): Promise<void> {
    if (notedAlready(record.failure, failure)) return;
    await update(
      () => store.get(record.id),
      (current) =>
        current.state === "pending" && !notedAlready(current.failure, failure) ? { ...current, failure } : undefined,
    );
  }

  async function link(record: SessionRecord, report: Report, serviceId: string | undefined): Promise<ReportAnswer> {
    const linkId = randomId();
    let delivered: Instruction[] = [];
    // The first attempt starts from the record the match just read (a shared store saves a round trip); the
    // compare-and-set refuses it if it changed meanwhile, and later attempts read it again.
    let fresh: SessionRecord | undefined = record;
    const linked = await update(
      async () => {
        const current = fresh ?? (await store.get(record.id));
        fresh = undefined;
        return current;
      },
      (current) => {
        const now = Date.now();
        if (current.state !== "pending" || current.expiresAt <= now) return undefined;
        delivered = current.instructions
          .filter((i) => deliverable(i, now))
          .map(({ id, name, args }) => ({ id, name, args }));
        return {
          ...current,
          state: "linked",
          linkedAt: now,
          linkEndsAt: now + settings.linkTtlMs,
          linkId,
          ...(serviceId === undefined ? {} : { serviceId }),
          process: report.process,
          instructions: current.instructions.map((i) => (deliverable(i, now) ? { ...i, state: "delivered" } : i)),
        };
      },
    );
    if (!linked) return noLink("ALREADY_LINKED", "the matching session was linked or expired meanwhile");
    log.info("linked", {
      pid: report.process.pid,
      process: report.process.name,
      user: report.process.user,
      origin: originName(record.origin),
    });
    return {
      linked: true,
      linkId,
      instructions: delivered,
      ...(record.origin === undefined ? {} : { origin: record.origin }),
    };
  }

  /** The ports a report claims were knocked, or the answer to a report that cannot link whatever the store holds. */
  function claimed(report: Report): { observed: number[]; failed: number[]; codes: number[][] } | ReportAnswer {
    const strategy = settings.bindFailure;
    if (report.claim.strategy !== strategy.name) {
      return noLink(
        "WRONG_STRATEGY",
        `this server matches with ${strategy.name}, the report used ${report.claim.strategy}`,
      );
    }
    const limits = {
      knocks,
      maxMissing: settings.maxMissing,
      maxFailed: settings.maxFailed,
      maxCompletions: settings.maxCompletions,
    };
    try {
      strategy.admit?.(report.claim, limits);
    } catch (error) {
      if (error instanceof TooManyCompletionsError) return noLink("TOO_MANY_COMPLETIONS", error.message);
      throw error;
    }
    const observed = strategy.observed(report.claim);
    const failed = strategy.failed(report.claim);
    const outside = [...observed, ...failed].find((p) => !inRange(settings.range, p));
    if (outside !== undefined) {
      return noLink(
        "OUT_OF_RANGE",
        `port ${outside} is outside the range ${settings.range.start}-${settings.range.end}`,
      );
    }
    if (observed.length > knocks) {
      return noLink("TOO_MANY_PORTS", `the process knocked ${observed.length} ports, a code has ${knocks}`);
    }
    if (observed.length === 0 || knocks - observed.length > settings.maxMissing) {
      return noLink(
        "TOO_MANY_MISSING",
        `${observed.length} of ${knocks} knocks seen; at most ${settings.maxMissing} may be missing`,
      );
    }
    if (failed.length > settings.maxFailed) {
      return noLink(
        "TOO_MANY_FAILED",
        `${failed.length} failed ports claimed; at most ${settings.maxFailed} are accepted`,
      );
    }
    try {
      return { observed, failed, codes: strategy.codes(report.claim, limits) };
    } catch (error) {
      if (error instanceof TooManyCompletionsError) return noLink("TOO_MANY_COMPLETIONS", error.message);
      throw error;
    }
  }

  return {
    linkTtlMs: settings.linkTtlMs,
    config: () => ({
      range: settings.range,
      tuples: settings.shape.tuples,
      portsPerTuple: settings.shape.portsPerTuple,
      ttlMs: settings.ttlMs,
      settleMs: settings.settleMs,
      idleMs: settings.idleMs,
      bindFailure: settings.bindFailure.name,
      maxCompletions: settings.maxCompletions,
      maxMissing: settings.maxMissing,
      maxFailed: settings.maxFailed,
    }),

    async create(who, charges = []) {
      const now = Date.now();
      // The first attempt takes the request's tokens and checks the live-session cap, in the insert's own step.
      // Pages and keys each have their own groups: the total is what both may hold together.
      let gate: InsertGate | undefined = { charges, maxLive: quota.maxLive, quotas: quota.session(who) };
      for (let attempt = 0; attempt < DRAW_ATTEMPTS; attempt++) {
        const tuples = drawCode(settings.range, settings.shape);
        // Every field named, in one order: records of one shape keep the store's code fast (no spreads).
        const record: SessionRecord = {
          id: randomId(16),
          tuples,
          createdAt: now,
          expiresAt: now + settings.ttlMs,
          state: "pending",
          version: 0,
          address: who.address,
          origin: who.origin,
          apiKeyId: who.apiKeyId,
          instructions: NO_INSTRUCTIONS,
        };
        const inserted = await store.insert(record, gate);
        gate = undefined; // the tokens were taken by the first attempt, inserted or not
        if (!inserted) continue; // the same code is live: draw another
        return {
          id: record.id,
          tuples,
          expiresAt: isoTime(record.expiresAt),
          ttlMs: settings.ttlMs,
          settleMs: settings.settleMs,
        };
      }
      throw new CapacityError("could not draw a code unlike every live one; the code space is too crowded");
    },

    async status(id, options = {}) {
      let record = await mustGet(id);
      const viewer = options.viewer;
      // Another backend's session reads as missing, so session ids of other SaaS cannot be probed.
      if (viewer && !belongsTo(record, viewer)) throw new NotFoundError("no such session (it may have expired)");
      const full = viewer !== undefined;
      const waitMs = Math.min(options.waitMs ?? 0, settings.maxWaitMs);
      const linkTtlMs = settings.linkTtlMs;
      if (waitMs <= 0) return toStatus(record, Date.now(), full, linkTtlMs);
      const since = options.since ?? record.version;
      if (stopping.signal.aborted) return toStatus(record, Date.now(), full, linkTtlMs);
      const end = Date.now() + waitMs;
      // A deadline passing (the code's, the link's, an instruction's) changes what the status reads without
      // a write: the poll answers then too. Only deadlines ahead of the poll's start count, or a poller that
      // already saw an expired instruction would be answered at once, again and again.
      const expires = record.state === "pending" ? record.expiresAt : Number.POSITIVE_INFINITY;
      const until = Math.min(end, expires, nextDeadline(record, Date.now(), linkTtlMs, full));
      const wait = deadline(until - Date.now(), options.signal, waits);
      try {
        // Each turn waits for a change (a store past its bound throws rather than resolve early); the loop ends
        // by the deadline and after MAX_WAIT_TURNS, so it is bounded even by a store that wakes it in vain.
        for (let turn = 0; record.version <= since && !wait.signal.aborted && turn < MAX_WAIT_TURNS; turn++) {
          const next = await store.changed(id, record.version, wait.signal);
          if (options.signal?.aborted || stopping.signal.aborted) break;
          record = next ?? (await mustGet(id));
        }
      } finally {
        wait.clear();
      }
      return toStatus(record, Date.now(), full, linkTtlMs);
    },

    async queueInstruction(id, request, viewer) {
      const instruction: InstructionRecord = {
        id: randomId(9),
        name: request.name,
        args: request.args ?? {},
        state: "queued",
        ...(request.ttlMs === undefined ? {} : { expiresAt: Date.now() + request.ttlMs }),
      };
      if (argsBytes(instruction.args) > MAX_ARGS_BYTES) {
        throw new InvalidInputError(`an instruction's args may hold at most ${MAX_ARGS_BYTES} bytes`);
      }
      const hold: Hold | undefined = quota.args(viewer.id, argsBytes(instruction.args));
      const updated = await update(
        () => mustGet(id),
        (record) => {
          if (!belongsTo(record, viewer)) throw new NotFoundError("no such session");
          if (record.state === "pending" && record.expiresAt <= Date.now())
            throw new NotFoundError("the session has expired");
          if (record.state === "declined")
            throw new SessionEndedError(
              "the person at the computer declined this session; it takes no instructions (create a new session)",
            );
          const ended = sessionEnd(record, settings.linkTtlMs);
          if (record.state === "linked" && ended <= Date.now()) {
            throw new SessionEndedError(
              `the session's link ended at ${new Date(ended).toISOString()}; it takes no more instructions (create a new session)`,
            );
          }
          if (record.instructions.length >= settings.maxInstructions) {
            throw new CapacityError(`a session holds at most ${settings.maxInstructions} instructions`);
          }
          return { ...record, instructions: [...record.instructions, instruction] };
        },
        hold,
      );
      if (!updated) throw new NotFoundError("no such session");
      return { id: instruction.id, name: instruction.name, state: "queued" };
    },

    async report(report, address, serviceId, charges = []) {
      const strategy = settings.bindFailure;
      const claim = claimed(report);
      // The report's rate-limit tokens are taken first: by the code search when it comes to one (the same step).
      if (!("observed" in claim)) {
        await takeCharges(charges);
        return claim;
      }
      const { observed, failed, codes } = claim;
      // Each code the knocks can be is looked up whole: one read for a full burst, however many sessions are live.
      const fits = (await store.find(codes, charges)).filter((c) =>
        strategy.fits(report.claim, new Set(c.tuples.flat())),
      );
      // A page anywhere can make a browser knock a code its own server handed out: link only sessions
      // asked for from where this service reports from (the same machine, or the same NAT).
      const fitting = policy.bindOrigin ? fits.filter((c) => c.address === address) : fits;
      if (fitting.length === 0 && fits.length > 0) {
        log.warn("a report fits only sessions created from another address", { address, service: serviceId });
        if (fits.length === 1) {
          await fail(fits[0]!, { reason: "ADDRESS_MISMATCH", reportedFrom: address });
        }
        return noLink(
          "OTHER_ORIGIN",
          "the knocks fit a session that was asked for from another address than this service's; linked none",
        );
      }
      log.debug("report", {
        pid: report.process.pid,
        observed: observed.length,
        failed: failed.length,
        fitting: fitting.length,
        address,
      });
      if (fitting.length === 0) return noLink("NO_MATCH", `no live code fits the ${observed.length} ports knocked`);
      if (fitting.length > 1) {
        return noLink("AMBIGUOUS", `${fitting.length} live codes fit the knocks equally; linked none`);
      }
      const session = fitting[0]!;
      // A page of another site can have this browser knock a code it knows (its own session of this
      // SaaS, from behind the same address): only knocks that carry the session's own origin link it.
      const refusal = originRefusal(report.origin, session.origin, report.process);
      if (refusal !== undefined) {
        log.warn("a report fits a session its knocks do not prove the origin of", {
          knocks: originName(report.origin),
          session: originName(session.origin),
          service: serviceId,
        });
        await fail(session, { reason: "ORIGIN_NOT_PROVEN", why: refusal });
        return noLink("ORIGIN_NOT_PROVEN", `${refusal}; linked none`);
      }
      // The local user has the last word on which sites may link their computer.
      if (report.allowOrigins && !report.allowOrigins.includes(originName(session.origin))) {
        await fail(session, { reason: "SERVICE_REFUSED_ORIGIN" });
        return noLink(
          "ORIGIN_NOT_ALLOWED",
          `the session belongs to ${originName(session.origin)}, which this service does not allow`,
          session.origin,
        );
      }
      if (report.decline) return decline(session);
      if (report.propose) return await propose(session);
      return link(session, report, serviceId);
    },

    async unknownServiceReport(report, address, why, charges = []) {
      const claim = claimed(report);
      if (!("observed" in claim)) return void (await takeCharges(charges));
      const fits = (await store.find(claim.codes, charges)).filter(
        (c) => strategy().fits(report.claim, new Set(c.tuples.flat())) && (!policy.bindOrigin || c.address === address),
      );
      // Only a session the knocks name alone: several would mean the report is not about any one of them.
      if (fits.length !== 1) return;
      log.warn("a service this server does not know reported knocks that fit a session", { address, why });
      // Shown to the backend only if no link comes within the grace: the report proves nothing (see unprovenGraceMs).
      await fail(fits[0]!, { reason: "SERVICE_NOT_ENROLLED", why, visibleAt: Date.now() + unprovenGrace });
    },

    async pull(linkId, waitMs, signal, serviceId) {
      let end = Date.now() + Math.min(waitMs, settings.maxWaitMs);
      for (;;) {
        let taken: Instruction[] = [];
        let linkEnd = 0;
        const record = await update(
          () => linkOf(linkId, serviceId),
          (current) => {
            const now = Date.now();
            linkEnd = sessionEnd(current, settings.linkTtlMs);
            if (linkEnd <= now) throw new SessionEndedError(`the link ended at ${new Date(linkEnd).toISOString()}`);
            taken = current.instructions
              .filter((i) => deliverable(i, now))
              .map(({ id, name, args }) => ({ id, name, args }));
            if (taken.length === 0) return undefined;
            return {
              ...current,
              instructions: current.instructions.map((i) => (deliverable(i, now) ? { ...i, state: "delivered" } : i)),
            };
          },
        );
        if (record) return { instructions: taken, linkTtlMs: Math.max(0, linkEnd - Date.now()) };
        const current = await linkOf(linkId, serviceId);
        if (!current) throw new NotFoundError("no such link (it may have expired)");
        linkEnd = sessionEnd(current, settings.linkTtlMs);
        // a poll never outlasts the link: the service hears that it ended on its next pull
        end = Math.min(end, linkEnd);
        if (Date.now() >= end || signal?.aborted || stopping.signal.aborted)
          return { instructions: [], linkTtlMs: Math.max(0, linkEnd - Date.now()) };
        const wait = deadline(end - Date.now(), signal, waits);
        try {
          await store.changed(current.id, current.version, wait.signal);
        } finally {
          wait.clear();
        }
      }
    },

    async acknowledge(linkId, acks, serviceId) {
      const byId = new Map(acks.map((a) => [a.id, a]));
      const updated = await update(
        () => linkOf(linkId, serviceId),
        (record) => {
          // Past the link's end its open instructions already read expired to their backend (and may have been
          // acted on as such): a late answer must not turn one into done.
          const ended = sessionEnd(record, settings.linkTtlMs);
          if (ended <= Date.now())
            throw new SessionEndedError(
              `the link ended at ${new Date(ended).toISOString()}; answers after it are not taken`,
            );
          return {
            ...record,
            instructions: record.instructions.map((i) => {
              const ack = byId.get(i.id);
              // one that expired stays so: its backend already heard it expired
              return ack && i.state !== "expired"
                ? { ...i, state: ack.ok ? "done" : "refused", result: ack.result }
                : i;
            }),
          };
        },
      );
      if (!updated) throw new NotFoundError("no such link (it may have expired)");
    },

    drain() {
      stopping.abort();
      for (const timer of expiryTimers.values()) clearTimeout(timer);
      expiryTimers.clear();
      for (const abort of [...waits]) abort();
    },
  };
}
