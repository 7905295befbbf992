// The contracts of the server's shared state, one per kind (sessions, registry, nonces, buckets), each with a memory/
// and a redis/ implementation of the same file name.
import { createHash } from "node:crypto";
import { CapacityError } from "../../lib/errors.ts";
import type { Charge } from "../../lib/rate-limit.ts";
import type { ServiceCredentials } from "../../protocol/signing.ts";
import type { FailureReason, Instruction, ProcessInfo, SessionState } from "../../protocol/schemas.ts";

/** The rate-limit buckets' contract lives beside the limiters that spend from them (lib/rate-limit.ts). */
export type { BucketStore, Charge, RateSpec } from "../../lib/rate-limit.ts";

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
    /**
     * A reason an unproven report gave (unsigned, or signed by a service this server does not know): when the
     * session's backend may see it (epoch ms; the grace is sessions.ts's unprovenGraceMs). Absent: at once (a
     * signed report's reason; also any reason an older server stored).
     */
    visibleAt?: number;
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
export const liveCapError = (maxLive: number) =>
  new CapacityError(`too many live sessions (${maxLive}); try again shortly`);

// The credential registry: enrolled services, enrollment tokens and API keys.

/** Where an API key's events go, and the secret they are signed with. */
export interface WebhookTarget {
  url: string;
  secret: string;
}

/** One enrolled service as the server keeps it. The key is the HMAC key, base64url. */
export interface EnrolledService {
  id: string;
  name: string;
  key: string;
  createdAt: number;
  revokedAt?: number;
}

/** What an operator sees of a service: never its key. */
export type ServiceSummary = Omit<EnrolledService, "key">;

/**
 * A SaaS backend's credential: it creates sessions for its users, reads who linked them and queues
 * instructions. Only the SHA-256 digest of the key is kept.
 */
export interface ApiKeyRecord {
  id: string;
  name: string;
  /** The web origin of the SaaS pages that knock this key's sessions (shown to the user's service). */
  origin: string;
  digest: string;
  createdAt: number;
  revokedAt?: number;
  /** Where the server POSTs this key's session events (see webhooks/); set when the key is made. */
  webhook?: string;
  /** The `whsec_` secret the events are signed with: kept in clear, since the server signs with it. */
  webhookSecret?: string;
}

/** What an operator, or a request authenticated by the key, sees of it: never the key, its digest or its webhook secret. */
export type ApiKeySummary = Omit<ApiKeyRecord, "digest" | "webhookSecret">;

/** The enrolled services, the tokens not yet used, and the API keys. */
/** When, from which address and as which pkipc version an enrolled service last signed a request. */
export interface Sighting {
  at: number;
  address: string;
  /** From the request's pkipc-version header; absent for services of 0.2, which send none. */
  version?: string;
}

export interface ServiceRegistry {
  /** "file", "memory" or "redis". */
  readonly name: string;
  /** A new one-time enrollment token; only its digest is kept. */
  issueToken(ttlMs: number): Promise<{ token: string; expiresAt: number }>;
  /** Spends a token and enrolls a service; throws UnauthorizedError BAD_TOKEN for an unknown, used or expired token. */
  enroll(token: string, name: string): Promise<ServiceCredentials>;
  /**
   * The key of an enrolled, unrevoked service. Looked up on every signed request, never cached, so a
   * revocation takes effect on the next request at every instance.
   */
  keyOf(serviceId: string): Promise<string | undefined>;
  revoke(serviceId: string): Promise<ServiceSummary>;
  list(): Promise<ServiceSummary[]>;
  /**
   * A new API key for a SaaS backend whose pages are at `origin`; the key is returned once, only its digest
   * kept. With a `webhook` URL (checked by the caller), a signing secret is made and returned once too.
   */
  issueApiKey(
    name: string,
    origin: string,
    webhook?: string,
  ): Promise<ApiKeySummary & { key: string; webhookSecret?: string }>;
  /** The webhook of an unrevoked API key, with its secret; undefined for none, revoked or unknown. */
  webhookOf(apiKeyId: string): Promise<WebhookTarget | undefined>;
  /** The unrevoked API key with this secret; looked up on every backend request, like keyOf. */
  apiKeyOf(key: string): Promise<ApiKeySummary | undefined>;
  revokeApiKey(id: string): Promise<ApiKeySummary>;
  listApiKeys(): Promise<ApiKeySummary[]>;
  /** Notes a signed request of an enrolled service (the guard calls it at most every 30 s per service and instance). */
  noteSeen(serviceId: string, seen: Sighting): Promise<void>;
  /** The last sighting of each service seen, by id. */
  sightings(): Promise<Map<string, Sighting>>;
}

/** API keys start with this, so a leaked one is recognisable (and never starts with "-"). */
export const API_KEY_PREFIX = "pkak_";

export interface RegistryOptions {
  /** JSON file holding services and token digests; undefined keeps them in memory only. */
  path?: string;
  /** Services enrolled at most (revoked ones count). Default 10,000. */
  maxServices?: number;
  /** Unused tokens at most. Default 1,000. */
  maxTokens?: number;
  /** API keys at most (revoked ones count). Default 1,000. */
  maxApiKeys?: number;
  now?: () => number;
}

export const digest = (token: string) => createHash("sha256").update(token).digest("hex");

// The replay cache of signed requests.

/**
 * Seen nonces, per service, for as long as a timestamp stays acceptable. Bounded in all and per service:
 * full means refuse, and a service at its own quota is refused without touching the others' room.
 */
export interface NonceCache {
  /** "memory" or "redis". */
  readonly name: string;
  /**
   * Records the nonce; false if it was seen already. Throws RateLimitError when the cache is full of live
   * nonces. First takes `charges` in the same step (as SessionStore.insert does): a refused one throws its
   * RateLimitError and the nonce is not stored.
   */
  remember(serviceId: string, nonce: string, charges?: readonly Charge[]): Promise<boolean>;
  /** Live nonces in all. */
  size(): Promise<number>;
  /** Live nonces of one service. */
  sizeOf(serviceId: string): Promise<number>;
}

export interface NonceCacheOptions {
  /** The signature window: a nonce is kept twice as long (a timestamp may be up to one window ahead). */
  windowMs: number;
  /** Nonces kept at most. Default 200,000. */
  maxEntries?: number;
  /** Nonces one service may hold. Default 5,000. */
  maxPerService?: number;
  now?: () => number;
}
