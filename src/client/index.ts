// The CLI client, a stand-in for the web page: get a code, knock it, wait for the service's link.
import { ApiError, ConfigError, NetworkError } from "../lib/errors.ts";
import { apiClient } from "../protocol/api-client.ts";
import { apiRoot } from "../protocol/endpoint.ts";
import { decode, type Format } from "../protocol/codec.ts";
import { type InstructionRequest, type ProcessInfo, SessionOffer, SessionStatus } from "../protocol/schemas.ts";
import { knockTuples } from "./knock.ts";
import type { KnockResult, KnockTransport } from "../protocol/transport.ts";

export interface ClientOptions {
  server: string | URL;
  transport: KnockTransport;
  format?: Format;
  /** How long to wait for the link after knocking, in ms. Default 10,000. */
  timeoutMs?: number;
  /**
   * The SaaS backend's API key: the client then creates its session as a backend would and sees who
   * linked it. Without one it acts as a page of the server's own origin and sees only the progress.
   */
  apiKey?: string;
  /**
   * The web origin the knocks state (an `Origin` header in each knock's first bytes, as a browser's cors
   * fetch or WebSocket carries its page's): the service links a session of an origin only from knocks
   * that carry it. Default: the session's own origin (the server's, without an API key; with one, the
   * key's origin, read from the session's status before knocking).
   */
  origin?: string;
  /**
   * The user's address to state for the session, as a SaaS backend does (needs apiKey). Default: none (the
   * server takes the address this client reaches it from). For trying what a backend states.
   */
  address?: string;
  /** Instructions to queue for the service before knocking (needs apiKey). */
  instructions?: InstructionRequest[];
  /**
   * "together" (default) knocks every port of the code at once, as the browser module does; "tuples" knocks
   * tuple by tuple, each once the previous one has connected (plus the server's settle pause). The code is a
   * set, so order carries nothing: each tuple boundary only cost a wait for its knocks' connect callbacks.
   */
  pace?: "together" | "tuples";
  signal?: AbortSignal;
}

/**
 * Why a run did not link, as a stable code: the session's own reason (DECLINED, ADDRESS_MISMATCH,
 * SERVICE_NOT_ENROLLED), NO_SERVICE (every knock was refused: nothing listens), EXPIRED, or NOT_LINKED
 * (the knocks landed and no service linked in time).
 */
export type NotLinkedCode = NonNullable<SessionStatus["reason"]> | "NO_SERVICE" | "EXPIRED" | "NOT_LINKED";

/** What one run of the client found out; `linked` false comes with a `code` and a one-sentence `reason`. */
export interface ClientResult {
  linked: boolean;
  code?: NotLinkedCode;
  reason?: string;
  sessionId: string;
  tuples: number[][];
  format: Format;
  transport: string;
  process?: ProcessInfo;
  /** The session's web origin, as the server told the backend (with an API key). */
  origin?: string;
  /** From the session request to the confirmed link, in ms, measured in this process. */
  timeToLinkMs?: number;
  knocks: { sent: number; landed: number; refused: number };
  instructions: SessionStatus["instructions"];
  state: SessionStatus["state"];
}

/** Whether every knock was refused: no service listens on this computer (the client knows at once). */
const allRefused = (knocks: KnockResult[]) => knocks.length > 0 && knocks.every((k) => k.landed === false);

function whyNotLinked(
  status: SessionStatus,
  knocks: KnockResult[],
  timeoutMs: number,
): { code: NotLinkedCode; reason: string } {
  // The service asked its user, who said no (or let the question time out): not a missing service.
  if (status.state === "declined")
    return { code: "DECLINED", reason: "the local user declined this link when the pkipc service asked" };
  if (status.reason) return { code: status.reason, reason: status.detail ?? status.reason };
  const refused = knocks.filter((k) => k.landed === false).length;
  if (allRefused(knocks))
    return {
      code: "NO_SERVICE",
      reason: `every knock was refused (${knocks[0]?.error ?? "no listener"}): is pkipc service running on this computer?`,
    };
  if (status.state === "expired") return { code: "EXPIRED", reason: "the code expired before a service reported it" };
  if (refused === 0) {
    // Something holds the whole range, so a service most likely saw the code: say what else keeps a link back.
    return {
      code: "NOT_LINKED",
      reason: `every knock landed, but no service linked the session within ${timeoutMs / 1000} s: the service may be throttled by the server (its log says so), pointed at another server, or not allowing this program or user`,
    };
  }
  // Most knocks landed, so something holds the range: the same causes as above, or a service missing some ports.
  return {
    code: "NOT_LINKED",
    reason: `no service linked the session within ${timeoutMs / 1000} s (${refused} of ${knocks.length} knocks refused): the service may be throttled by the server (its log says so), pointed at another server, not allowing this program or user, or not running`,
  };
}

/**
 * Asks for a session, waiting out a 429 (as its Retry-After says) while that fits before `end`: 50
 * clients started at once from one address would otherwise fail past the server's burst.
 */
async function createSession(
  api: ReturnType<typeof apiClient>,
  format: Format,
  end: number,
  signal?: AbortSignal,
  address?: string,
) {
  for (;;) {
    try {
      return await api.openSession(format, signal, address === undefined ? undefined : { address });
    } catch (error) {
      const wait =
        error instanceof ApiError && error.status === 429
          ? (error.retryAfterSeconds ?? 1) * 1000
          : Number.POSITIVE_INFINITY;
      if (performance.now() + wait >= end || signal?.aborted) throw error;
      await Bun.sleep(wait);
    }
  }
}

/** Pause before asking again after a poll was closed without an answer, in ms. */
const POLL_RETRY_MS = 100;
/** How long after its last knock an unproven reason (SERVICE_NOT_ENROLLED) must stand, unlinked, to be the answer. */
const UNPROVEN_GRACE_MS = 1500;

/**
 * A long poll closed without an answer (an idle limit on the way, a dropped keep-alive connection) or cut
 * by a gateway: nothing is known to be wrong with the session, so the client asks again.
 */
function pollClosed(error: unknown): boolean {
  return error instanceof NetworkError || (error instanceof ApiError && (error.status === 502 || error.status === 504));
}

/** A session offer and a linked status such as a server sends: the documents the client decodes on its way to a link. */
const WARM_UP = (() => {
  const at = new Date(0).toISOString();
  const offer: SessionOffer = { id: "0".repeat(22), tuples: [[1024, 1025]], expiresAt: at, ttlMs: 0, settleMs: 0 };
  const status: SessionStatus = {
    id: offer.id,
    state: "linked",
    version: 1,
    expiresAt: at,
    linkedAt: at,
    linkEndsAt: at,
    origin: "https://warm.example",
    process: { pid: 1, ppid: 0, uid: 0, user: "root", exe: "/bin/sh", name: "sh" },
    instructions: [{ id: "i", name: "log", state: "done" }],
  };
  return { offer: JSON.stringify(offer), status: JSON.stringify(status) };
})();

/**
 * Decodes a made-up offer or status (default: both) while a request is in flight. A fresh process checks
 * each schema cold the first time (about 0.5 ms each on a quiet machine, 1-2 ms loaded, a tenth of that
 * warm), and the client did so twice on its way to the link, each time after an answer had come; now the
 * waits cover it: the offer's while the session is asked for, the status's once the knocks have connected
 * (and written their heads: warming sooner held their open callbacks back) and the first poll is out.
 * True when they decoded (they always should: a test holds them to the schemas).
 */
export function warmDecoders(which: "offer" | "status" | "both" = "both"): boolean {
  try {
    if (which !== "status") decode(SessionOffer, WARM_UP.offer, "json");
    if (which !== "offer") decode(SessionStatus, WARM_UP.status, "json");
    return true;
  } catch {
    return false;
  }
}

/** Runs the whole exchange once. Throws only for errors talking to the server. */
export async function runClient(options: ClientOptions): Promise<ClientResult> {
  const format = options.format ?? "json";
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (options.address !== undefined && !options.apiKey) {
    throw new ConfigError(
      "stating the user's address needs the SaaS backend's API key (--api-key or PKIPC_API_KEY): only a backend may state it",
    );
  }
  if (options.instructions?.length && !options.apiKey) {
    throw new ConfigError(
      "queueing instructions needs the SaaS backend's API key (--api-key or PKIPC_API_KEY; pkipc admin api-key makes one)",
    );
  }
  // Without an API key, ask as the server's own demo page would: browsers always name the page's origin.
  const root = apiRoot(options.server);
  const api = options.apiKey ? apiClient(root, { apiKey: options.apiKey }) : apiClient(root, { origin: root.origin });
  const start = performance.now();
  const opening = createSession(api, format, start + timeoutMs, options.signal, options.address);
  warmDecoders("offer");
  const { offer, origin: told } = await opening;
  for (const instruction of options.instructions ?? [])
    await api.queueInstruction(offer.id, instruction, options.signal);
  // A page's knocks carry its origin; a backend's session has its API key's origin, which the server names
  // when it makes the session (a server of 0.2 does not: then its status names it, one request more).
  const origin =
    options.origin ??
    (options.apiKey ? (told ?? (await api.status(offer.id, undefined, options.signal)).origin) : root.origin);

  const schedule = options.pace === "tuples" ? offer.tuples : [offer.tuples.flat()];
  const knocking = knockTuples(options.transport, schedule, {
    settleMs: offer.settleMs,
    signal: options.signal,
    // The last tuple's knocks have connected and written their heads, and the first poll is out: until the
    // service has attributed them and the server has linked, this process only waits, so the status decoder
    // warms then (after an earlier tuple it would hold the next one back).
    onLanded: (tuple) => {
      if (tuple === schedule.length - 1) warmDecoders("status");
    },
    ...(origin ? { origin } : {}),
  });
  // Every knock refused: nothing listens, so nothing will link; the poll under way is cut short.
  const nobody = new AbortController();
  void knocking.then((knocks) => allRefused(knocks) && nobody.abort());
  const pollSignal = options.signal ? AbortSignal.any([options.signal, nobody.signal]) : nobody.signal;
  const end = start + timeoutMs;
  // A reason an unproven report set (SERVICE_NOT_ENROLLED: any local program that saw the ports can send one
  // before the real service does) stops nothing until the knocks have been over for a while with no link.
  let knocksDoneAt: number | undefined;
  void knocking.then(() => (knocksDoneAt = performance.now()));
  const unprovenStands = () => knocksDoneAt !== undefined && performance.now() > knocksDoneAt + UNPROVEN_GRACE_MS;
  const waitingOnService = (s: SessionStatus) =>
    (s.state === "pending" && (s.reason === undefined || (s.reason === "SERVICE_NOT_ENROLLED" && !unprovenStands()))) ||
    (s.state === "linked" && s.instructions.some((i) => i.state === "queued" || i.state === "delivered"));
  // Long polls from the first knock on, each bounded by what is left of the timeout: the link is seen
  // the moment the server makes it, whatever the knocks are still doing. The loop ends at the deadline.
  let status: SessionStatus | undefined;
  let timeToLinkMs: number | undefined;
  let lastPollError: unknown;
  do {
    // While an unproven reason stands, polls are short: the loop must see its grace end.
    const seconds = status?.reason ? 1 : Math.max(1, Math.ceil((end - performance.now()) / 1000));
    if (nobody.signal.aborted && status) break;
    const waited = !nobody.signal.aborted;
    try {
      status = waited
        ? await api.status(offer.id, { seconds: Math.min(seconds, 30), since: status?.version ?? 0 }, pollSignal)
        : await api.status(offer.id, undefined, options.signal);
    } catch (error) {
      // The long poll cut short because every knock was refused: the loop reads the status once more, unwaited.
      // Only that: a failed unwaited read goes on below (a pause, or the error), never straight round again.
      if (waited && nobody.signal.aborted && !options.signal?.aborted) continue;
      if (error instanceof ApiError && error.status === 404 && status) break;
      if (pollClosed(error) && !options.signal?.aborted && performance.now() < end - POLL_RETRY_MS) {
        lastPollError = error;
        await Bun.sleep(POLL_RETRY_MS);
        continue;
      }
      throw error;
    }
    lastPollError = undefined;
    if (status.state === "linked" && timeToLinkMs === undefined) timeToLinkMs = performance.now() - start;
  } while ((status === undefined || waitingOnService(status)) && performance.now() < end);
  const knocks = await knocking;
  // polls that kept failing until the deadline: the server is gone, not the service (say so, not "no service linked")
  if (lastPollError && status?.state !== "linked") throw lastPollError;
  if (!status)
    throw new NetworkError(
      `no status of session ${offer.id} from ${api.url} within ${timeoutMs / 1000} s: every poll was closed without an answer`,
    );
  const result: ClientResult = {
    linked: status.state === "linked",
    sessionId: offer.id,
    tuples: offer.tuples,
    format,
    transport: options.transport.name,
    knocks: {
      sent: knocks.length,
      landed: knocks.filter((k) => k.landed === true).length,
      refused: knocks.filter((k) => k.landed === false).length,
    },
    instructions: status.instructions,
    state: status.state,
  };
  if (status.process) result.process = status.process;
  if (status.origin) result.origin = status.origin;
  if (timeToLinkMs !== undefined) result.timeToLinkMs = Math.round(timeToLinkMs * 100) / 100;
  if (!result.linked) {
    // The reason opens with its code, as the server's instruction results do ("DECLINED: ..."): one line says both.
    const { code, reason } = whyNotLinked(status, knocks, timeoutMs);
    result.code = code;
    result.reason = `${code}: ${reason}`;
  }
  return result;
}
