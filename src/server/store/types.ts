// The session store seam: where live sessions are kept, in memory by default, shared stores later.
import { CapacityError } from "../../lib/errors.ts";
import type { Charge } from "../../lib/rate-limit.ts";
import type { FailureReason, Instruction, ProcessInfo, SessionState } from "../../protocol/schemas.ts";

/** An instruction with what became of it. */
export interface InstructionRecord extends Instruction {
  /**
   * "expired" is read from the deadlines (see sessions.ts, instructionView) and also stored once one passes on a
   * server that watches it (for the `instruction.expired` webhook event); a record without it reads the same.
   */
  state: "queued" | "delivered" | "done" | "refused" | "expired";
  result?: string;
  /** Its own deadline to be delivered by (epoch ms), when the backend gave one. */
  expiresAt?: number;
}

/**
 * Everything the server knows of one session. Times are epoch milliseconds. Readonly all the way down: a
 * record is a value that may be shared by the store and every reader (the memory store hands out the
 * records it keeps whole without a copy), so code that changes one does not compile; a change is a new
 * record, stored with `replace`.
 */
export interface SessionRecord {
  readonly id: string;
  /** The knock code, in knock order. */
  readonly tuples: readonly (readonly number[])[];
  readonly createdAt: number;
  readonly expiresAt: number;
  /** "expired" is never stored: a pending record past expiresAt reads as expired. */
  readonly state: Exclude<SessionState, "expired">;
  /** Grows with every change; long polls wait for it to pass a value. */
  readonly version: number;
  /** The user's address: where a browser asked from, or what a SaaS backend stated. Reports link only from it (origin binding). */
  readonly address: string;
  /** The web origin the session belongs to: the page's Origin, or the origin of the backend's API key; absent for non-browser clients. */
  readonly origin?: string;
  /** The API key that created it (backend sessions). */
  readonly apiKeyId?: string;
  readonly linkedAt?: number;
  readonly linkId?: string;
  /** When a linked session stops taking instructions (linkedAt + the server's link lifetime). */
  readonly linkEndsAt?: number;
  /** The enrolled service whose report linked it: only it may pull and acknowledge. */
  readonly serviceId?: string;
  readonly process?: Readonly<ProcessInfo>;
  /** Why a pending session will not link, as a report the server could not link showed it (see FailureReason). */
  readonly failure?: Readonly<{
    reason: Exclude<FailureReason, "DECLINED">;
    /** ADDRESS_MISMATCH: the address the service reported from. */
    reportedFrom?: string;
    /** SERVICE_NOT_ENROLLED and ORIGIN_NOT_PROVEN: why, in a few words. */
    why?: string;
  }>;
  /** When a service first proposed the link to its user (it asks before linking): the page waits for the answer. */
  readonly proposedAt?: number;
  readonly instructions: readonly Readonly<InstructionRecord>[];
}

/** The instruction list of a record that has none: one frozen array shared by all of them. */
export const NO_INSTRUCTIONS: readonly never[] = Object.freeze([]);

/**
 * Live sessions. Records read from a store are immutable values: to change one, build a new record and
 * `replace` it. Every method is asynchronous so a networked store can stand behind it; every change goes
 * through `replace`, a compare-and-set on the version, so concurrent servers cannot both link one session.
 */
export interface SessionStore {
  readonly name: string;
  /**
   * Adds a pending session; false when a live session already has the same code (draw again). In the same
   * step and first, it applies `gate`: takes one token of each charge, in order (a store that holds the
   * buckets takes them in its own write; a refused one throws its RateLimitError), then refuses with
   * liveCapError while `maxLive` sessions are pending. A refused insert writes nothing; charges are taken
   * whether or not the code was free.
   */
  insert(record: SessionRecord, gate?: InsertGate): Promise<boolean>;
  get(id: string): Promise<SessionRecord | undefined>;
  /** The session a service link belongs to. */
  getByLink(linkId: string): Promise<SessionRecord | undefined>;
  /**
   * Stores `record` if the stored version is still `expectedVersion`; a non-pending record leaves the live code
   * index. With `hold`, in the same step: adds `hold.bytes` to what `hold.group` holds until the record is
   * forgotten (its expiry plus the retention), or throws `hold.refusal()` and writes nothing when that would
   * pass `hold.max`.
   */
  replace(record: SessionRecord, expectedVersion: number, hold?: Hold): Promise<boolean>;
  /**
   * Pending, unexpired sessions whose code is one of `codes` (each a code's distinct ports, in any order);
   * no code twice. Takes `charges` first, in the same step, as insert does: a refused one throws its
   * RateLimitError.
   */
  find(codes: readonly (readonly number[])[], charges?: readonly Charge[]): Promise<SessionRecord[]>;
  /**
   * Resolves once session `id` has a version above `version`, or when `signal` aborts. A store that has the
   * changed record at hand (it made the change itself) may resolve with it, sparing the caller a read.
   * Past its bound of waits held at once it throws CapacityError: it never resolves early, which made a
   * caller that waits again spin.
   */
  changed(id: string, version: number, signal: AbortSignal): Promise<SessionRecord | void>;
  /**
   * How many sessions are pending (the metrics' gauge; the cap itself is checked by insert). It may count
   * sessions that expired moments ago and are not swept yet (a memory store sweeps every second).
   */
  liveCount(): Promise<number>;
  close(): Promise<void>;
}

/** What an insert checks before it writes, in the same step. */
export interface InsertGate {
  /** Rate-limit tokens the request owes. Default none. */
  charges?: readonly Charge[];
  /** The live-session cap: refuse while this many sessions are pending. Default none. */
  maxLive?: number;
  /**
   * Groups the session counts in while it is pending (until it links or expires), each with its own bound: checked
   * after maxLive, in order; the first one full refuses with its `refusal()`. Default none.
   */
  quotas?: readonly Quota[];
}

/** A bound on the sessions of one group (e.g. one client network, one API key), checked and counted by the store. */
export interface Quota {
  /** A name unique to the group, e.g. "net:192.0.2.7" or "key:ab12". */
  group: string;
  max: number;
  refusal: () => Error;
}

/** Bytes a group (e.g. an API key) adds to what it holds, bounded by `max` (see SessionStore.replace). */
export interface Hold {
  group: string;
  bytes: number;
  max: number;
  refusal: () => Error;
}

/** The 503 of an insert refused by the live-session cap. */
export const liveCapError = (maxLive: number) => new CapacityError(`too many live sessions (${maxLive}); try again shortly`);
