// Every payload pkipc exchanges, as TypeBox schemas: routes, codecs and clients all validate against these.
import { type Static, Type as T } from "@sinclair/typebox";

/** A TCP port. */
export const Port = T.Integer({ minimum: 1, maximum: 65535 });

/** A list of ports; `xmlItem` names each child element in the XML form. */
const Ports = (maxItems: number) => T.Array(Port, { maxItems, xmlItem: "port" });

/** An ISO 8601 UTC time, as Date.prototype.toISOString writes it. */
export const Timestamp = T.String({
  pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?Z$",
  maxLength: 40,
});

/** The longest code a server may be configured with (tuples x ports per tuple). */
export const MAX_KNOCKS = 64;

/** What a service needs to know, served by the server at GET /v1/config. */
export const ServiceConfig = T.Object(
  {
    range: T.Object({ start: Port, end: Port }),
    tuples: T.Integer({ minimum: 1, maximum: 16 }),
    portsPerTuple: T.Integer({ minimum: 1, maximum: 16 }),
    ttlMs: T.Integer({ minimum: 1000, maximum: 600_000 }),
    settleMs: T.Integer({ minimum: 0, maximum: 10_000 }),
    idleMs: T.Integer({ minimum: 10, maximum: 60_000 }),
    bindFailure: T.String({ maxLength: 64 }),
    maxCompletions: T.Integer({ minimum: 1, maximum: 100_000 }),
    maxMissing: T.Integer({ minimum: 0, maximum: MAX_KNOCKS }),
    maxFailed: T.Integer({ minimum: 0, maximum: 4096 }),
  },
  { additionalProperties: false, xmlName: "config" },
);
export type ServiceConfig = Static<typeof ServiceConfig>;

/** A knock code as handed to a client: the tuples to knock, in order. */
export const SessionOffer = T.Object(
  {
    id: T.String({ minLength: 22, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" }),
    tuples: T.Array(Ports(16), { minItems: 1, maxItems: 16, xmlItem: "tuple" }),
    expiresAt: Timestamp,
    ttlMs: T.Integer({ minimum: 0 }),
    settleMs: T.Integer({ minimum: 0, maximum: 10_000 }),
  },
  { additionalProperties: false, xmlName: "session" },
);
export type SessionOffer = Static<typeof SessionOffer>;

/** A browser's main process, found by walking up from the process that knocked (Chromium knocks from a helper). */
export const BrowserInfo = T.Object(
  {
    name: T.String({ maxLength: 256 }),
    version: T.String({ maxLength: 64 }),
    pid: T.Integer({ minimum: 0, maximum: 2 ** 31 }),
    exe: T.String({ maxLength: 4096 }),
  },
  { additionalProperties: false, xmlName: "browser" },
);
export type BrowserInfo = Static<typeof BrowserInfo>;

/** The process a service attributed a knock burst to. */
export const ProcessInfo = T.Object(
  {
    pid: T.Integer({ minimum: 0, maximum: 2 ** 31 }),
    ppid: T.Integer({ minimum: 0, maximum: 2 ** 31 }),
    uid: T.Integer({ minimum: 0, maximum: 2 ** 32 }),
    user: T.String({ maxLength: 256 }),
    exe: T.String({ maxLength: 4096 }),
    name: T.String({ maxLength: 256 }),
    /** The browser the knocking process belongs to, when the service recognised one. Optional: older services omit it. */
    browser: T.Optional(BrowserInfo),
  },
  { additionalProperties: false, xmlName: "process" },
);
export type ProcessInfo = Static<typeof ProcessInfo>;

/** server-match: the service sends what it saw and which ports it could not bind; the server finds the code. */
export const ServerMatchClaim = T.Object(
  {
    strategy: T.Literal("server-match"),
    observed: Ports(4096),
    failed: Ports(4096),
  },
  { additionalProperties: false },
);

/** enumerate: the service sends every code that what it saw could be, filling in from the failed ports. */
export const EnumerateClaim = T.Object(
  {
    strategy: T.Literal("enumerate"),
    completions: T.Array(Ports(MAX_KNOCKS), { minItems: 1, maxItems: 100_000 }),
  },
  { additionalProperties: false },
);

export const Claim = T.Union([ServerMatchClaim, EnumerateClaim]);
export type Claim = Static<typeof Claim>;

/** A web origin as the Origin header carries it: scheme://host[:port], no path (WebOrigin below is built on it). */
export const WEB_ORIGIN_PATTERN = /^https?:\/\/[^\s/?#@]+$/;

/**
 * A web origin as browsers send it in the Origin header: scheme://host[:port], no path. Sessions carry the
 * origin of the page (or the SaaS backend's declared origin) that asked for them; services show it and may
 * refuse it.
 */
export const WebOrigin = T.String({ minLength: 8, maxLength: 256, pattern: WEB_ORIGIN_PATTERN.source });

/** POST /v1/reports: the knocks of one process. */
export const Report = T.Object(
  {
    process: ProcessInfo,
    claim: Claim,
    /**
     * The web origin every knock of the burst proved: the `Origin` header a browser sent in the knock's
     * first bytes (the service groups knocks by process and origin). Absent: the knocks carried none (a
     * no-cors GET, a TLS knock, a browser that sent nothing). A session of an origin links only knocks that
     * carry it, except knocks without one from a program that cannot send one (WebKit): see origin-proof.ts.
     */
    origin: T.Optional(WebOrigin),
    /**
     * The local user's allow-list of origins: the server links only a session whose origin is on it
     * (the word "none" admits sessions with no origin, made by non-browser clients). Absent: any origin.
     */
    allowOrigins: T.Optional(T.Array(T.Union([WebOrigin, T.Literal("none")]), { maxItems: 64, xmlItem: "origin" })),
    /** Find the session the knocks fit and answer PROPOSED with its origin, without linking (for --confirm ask). */
    propose: T.Optional(T.Boolean()),
    /**
     * The local user declined the session these knocks fit (after a proposal): the server ends it as
     * `declined`, so its page and backend hear the answer at once instead of waiting out their timeout.
     */
    decline: T.Optional(T.Boolean()),
  },
  { additionalProperties: false, xmlName: "report" },
);
export type Report = Static<typeof Report>;

/** Most bytes of one instruction's args (keys and values); a session holds at most 16 instructions. */
export const MAX_ARGS_BYTES = 16 * 1024;

/** An instruction's arguments: at most 32 named string values (names of letters, digits, "_", "." and "-", up to 64) (and MAX_ARGS_BYTES in all, checked by the server). */
const InstructionArgs = T.Record(T.String({ pattern: "^[A-Za-z0-9_.-]{1,64}$" }), T.String({ maxLength: 4096 }), {
  maxProperties: 32,
  additionalProperties: false,
});

/** Something the holder of a session asks the linked service to do. */
export const Instruction = T.Object(
  {
    id: T.String({ maxLength: 64 }),
    name: T.String({ minLength: 1, maxLength: 64, pattern: "^[a-z][a-z0-9-]*$" }),
    args: InstructionArgs,
  },
  // exact: a client reading a server's answer skips no field of it (see DecodeOptions): a service runs what
  // it says, so a field a later server adds to constrain an instruction must not be lost on the way.
  { additionalProperties: false, xmlName: "instruction", exact: true },
);
export type Instruction = Static<typeof Instruction>;

/**
 * The response header (on a report that linked, and on every pull) with how long from now the link takes
 * instructions, in ms: a service watches the link that long. A header, not a field: the answers' schemas
 * refuse unknown fields, and services of 0.2 must keep reading this server's answers.
 */
export const LINK_TTL_HEADER = "pkipc-link-ttl-ms";

/**
 * The response header of a new session with the web origin it belongs to (an API key's session: the key's
 * origin). The CLI client states it in its knocks without reading the session's status first. A header for
 * the same reason as LINK_TTL_HEADER: clients of 0.2 must keep decoding the offer.
 */
export const SESSION_ORIGIN_HEADER = "pkipc-session-origin";

/** GET /v1/links/{linkId}/instructions: what was queued after the link. */
export const PulledInstructions = T.Object(
  { instructions: T.Array(Instruction, { maxItems: 64, xmlItem: "instruction" }) },
  { additionalProperties: false, xmlName: "instructions" },
);
export type PulledInstructions = Static<typeof PulledInstructions>;

/** POST /v1/sessions/{id}/instructions body. */
export const InstructionRequest = T.Object(
  {
    name: Instruction.properties.name,
    args: T.Optional(Instruction.properties.args),
    /** Not delivered within this many ms, it reads `expired` (its session's end applies anyway). */
    ttlMs: T.Optional(T.Integer({ minimum: 1000, maximum: 3_600_000 })),
  },
  { additionalProperties: false },
);
export type InstructionRequest = Static<typeof InstructionRequest>;

/** The service's answer to one instruction. */
export const Ack = T.Object(
  {
    id: T.String({ maxLength: 64 }),
    ok: T.Boolean(),
    result: T.String({ maxLength: 4096 }),
  },
  { additionalProperties: false, xmlName: "ack" },
);
export type Ack = Static<typeof Ack>;

export const AckRequest = T.Object(
  { acks: T.Array(Ack, { minItems: 1, maxItems: 64 }) },
  { additionalProperties: false },
);
export type AckRequest = Static<typeof AckRequest>;

/** Why a report linked nothing: stable codes a service can act on. */
export const NoLinkCode = T.Union([
  T.Literal("NO_MATCH"),
  T.Literal("AMBIGUOUS"),
  T.Literal("TOO_MANY_PORTS"),
  T.Literal("TOO_MANY_MISSING"),
  T.Literal("TOO_MANY_FAILED"),
  T.Literal("OUT_OF_RANGE"),
  T.Literal("WRONG_STRATEGY"),
  T.Literal("ALREADY_LINKED"),
  T.Literal("OTHER_ORIGIN"),
  T.Literal("ORIGIN_NOT_ALLOWED"),
  T.Literal("ORIGIN_NOT_PROVEN"),
  T.Literal("PROPOSED"),
  T.Literal("DECLINED"),
  T.Literal("TOO_MANY_COMPLETIONS"),
]);
export type NoLinkCode = Static<typeof NoLinkCode>;

/** The server's answer to a report. */
export const ReportAnswer = T.Object(
  {
    linked: T.Boolean(),
    code: T.Optional(NoLinkCode),
    reason: T.Optional(T.String()),
    linkId: T.Optional(T.String()),
    /** The origin of the session that linked (or would link, for PROPOSED and ORIGIN_NOT_ALLOWED); absent when it has none. */
    origin: T.Optional(WebOrigin),
    instructions: T.Array(Instruction, { maxItems: 64, xmlItem: "instruction" }),
  },
  { additionalProperties: false, xmlName: "answer" },
);
export type ReportAnswer = Static<typeof ReportAnswer>;

export const InstructionState = T.Union([
  T.Literal("queued"),
  T.Literal("delivered"),
  T.Literal("done"),
  T.Literal("refused"),
  /** Never answered: still queued at its own deadline, or queued or delivered when its session ended (the result says which). */
  T.Literal("expired"),
]);

/** An instruction as the session holder sees it, with the service's answer once there is one. */
export const InstructionStatus = T.Object(
  {
    id: T.String(),
    name: T.String(),
    state: InstructionState,
    result: T.Optional(T.String()),
  },
  { additionalProperties: false, xmlName: "instruction" },
);
export type InstructionStatus = Static<typeof InstructionStatus>;

/** "declined": the local user said no (or did not answer) when the service asked; the session links no more. */
export const SessionState = T.Union([
  T.Literal("pending"),
  T.Literal("linked"),
  T.Literal("expired"),
  T.Literal("declined"),
]);
export type SessionState = Static<typeof SessionState>;

/**
 * POST /v1/sessions body, from a SaaS backend (API key): the user's address as the SaaS saw it, so the
 * session links only a service reporting from there. Absent: the address of the request itself.
 */
export const SessionRequest = T.Object(
  { address: T.Optional(T.String({ minLength: 2, maxLength: 45, pattern: "^[0-9A-Fa-f:.]+$" })) },
  { additionalProperties: false },
);
export type SessionRequest = Static<typeof SessionRequest>;

/**
 * Why a session did not link, as its status names it. DECLINED: the person at the computer said no.
 * ADDRESS_MISMATCH: a service's report fit the code, but from another address than the one the session
 * was made for (the backend stated another, e.g. ::1 against 127.0.0.1). SERVICE_NOT_ENROLLED: the knocks
 * were reported by a service this server does not know (not enrolled, revoked, or enrolled with another
 * server), so nothing could link. ORIGIN_NOT_PROVEN: the knocks did not carry the session's web origin (a TLS
 * knock in Chromium or Firefox, or another site's page). SERVICE_REFUSED_ORIGIN: the service on this computer
 * does not allow the session's origin (its user's allow-list). The page and the CLI client name more causes of their own (no service,
 * a Content-Security-Policy, Local Network Access): only the server's are here.
 */
export const FailureReason = T.Union([
  T.Literal("DECLINED"),
  T.Literal("ADDRESS_MISMATCH"),
  T.Literal("SERVICE_NOT_ENROLLED"),
  T.Literal("ORIGIN_NOT_PROVEN"),
  T.Literal("SERVICE_REFUSED_ORIGIN"),
]);
export type FailureReason = Static<typeof FailureReason>;

/**
 * GET /v1/sessions/{id}. `version` grows with every change, for long polling with `since`. A page sees
 * only the progress (state, version, instruction states); `origin`, `process` and instruction results
 * are for the SaaS backend's API key.
 */
export const SessionStatus = T.Object(
  {
    id: T.String(),
    state: SessionState,
    version: T.Integer({ minimum: 0 }),
    expiresAt: Timestamp,
    linkedAt: T.Optional(Timestamp),
    /** A linked session takes instructions until then (the server's --link-ttl after the link). */
    linkEndsAt: T.Optional(Timestamp),
    /**
     * Why the session did not (or will not) link, as a stable code (see {@link FailureReason}): on a declined
     * session DECLINED; on a pending one, what the server learned from a report it could not link.
     */
    reason: T.Optional(FailureReason),
    /** The reason in one sentence, naming what it found (e.g. both addresses of ADDRESS_MISMATCH). */
    detail: T.Optional(T.String({ maxLength: 512 })),
    /** A service reported the knocks and is asking the person at the computer (pending meanwhile). */
    confirming: T.Optional(T.Literal(true)),
    origin: T.Optional(WebOrigin),
    process: T.Optional(ProcessInfo),
    instructions: T.Array(InstructionStatus, { maxItems: 64, xmlItem: "instruction" }),
  },
  { additionalProperties: false, xmlName: "status" },
);
export type SessionStatus = Static<typeof SessionStatus>;

/** Every error answer of the API. In XML the one property is the root: `<error><code/><message/></error>`. */
export const ErrorBody = T.Object(
  { error: T.Object({ code: T.String(), message: T.String() }) },
  { additionalProperties: false, xmlName: "error", xmlUnwrap: "error" },
);
export type ErrorBody = Static<typeof ErrorBody>;
