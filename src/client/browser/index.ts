// The browser module (served as /pkipc.js): one call that gets a code, knocks it from this page, and waits for the link.
import type { FailureReason, ProcessInfo, ServiceConfig, SessionOffer, SessionStatus } from "../../protocol/schemas.ts";
import { knockTuples } from "../knock.ts";
import type { KnockTransport } from "../../protocol/transport.ts";
import { type BrowserApi, browserApi, ServerCallError } from "./api.ts";
import { withKnockLock } from "./lock.ts";
import { blockedAdvice, type LocalNetworkPermission, queryLocalNetworkPermission } from "./permission.ts";
import { type BrowserTransportName, browserTransports } from "../../../plugins/transport/browser/index.ts";

export { browserTransports, type BrowserTransportName, type LocalNetworkPermission, queryLocalNetworkPermission };

/**
 * The transport for this browser when none is named: one that carries the page's `Origin`, since the
 * service links a session only from knocks that prove its origin (README, "Security model"). fetch (a
 * cors GET) in Chromium (its WebSockets connect one at a time per IP and slow down after failures); ws
 * in Firefox (one connection per knock, where Firefox retries a fetch the service hung up on 4-6 times).
 * https in WebKit (Safari, and every browser on iOS), which blocks http: and ws: to loopback from an
 * https page as mixed content: its TLS knocks carry no origin, and WebKit is the one engine the server
 * links without one. In Chromium and Firefox the knocks send their head only when the page may reach
 * loopback (Local Network Access granted, a policy, or a page that is not public).
 */
export function defaultTransport(userAgent = globalThis.navigator?.userAgent ?? ""): BrowserTransportName {
  return DEFAULT_TRANSPORT[browserEngine(userAgent)];
}

/** The measured default per engine (README, "Browsers"); a browser that is neither Firefox nor WebKit is taken for Chromium. */
const DEFAULT_TRANSPORT: Record<BrowserEngine, BrowserTransportName> = {
  chromium: "fetch",
  firefox: "ws",
  webkit: "https",
};

export type BrowserEngine = "chromium" | "firefox" | "webkit";

/**
 * The engine behind a user agent. WebKit is "AppleWebKit/" without a Chromium token: Safari, WebKitGTK
 * and WPE browsers, and on iOS every browser (CriOS, FxiOS and EdgiOS carry no "Chrome/" or "Firefox/").
 */
export function browserEngine(userAgent: string): BrowserEngine {
  if (/Firefox\//.test(userAgent)) return "firefox";
  if (/AppleWebKit\//.test(userAgent) && !/(Chrome|Chromium|Edg|OPR)\//.test(userAgent)) return "webkit";
  return "chromium";
}

/** Why link() failed: a stable code and one sentence (README, "Integrating pkipc": what the user and the integrator do for each). */
export class LinkError extends Error {
  readonly code:
    | FailureReason // the server's: DECLINED, ADDRESS_MISMATCH, SERVICE_NOT_ENROLLED, ORIGIN_NOT_PROVEN, SERVICE_REFUSED_ORIGIN
    | "NO_SERVICE"
    | "CSP"
    | "LOCAL_NETWORK_BLOCKED"
    | "NOT_ALLOWED"
    | "NOT_LINKED"
    | "EXPIRED"
    | "ABORTED"
    | "SERVER";
  constructor(code: LinkError["code"], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LinkError";
    this.code = code;
  }
}

/** What link() reports as it goes, e.g. to light up a port as its knock goes out. */
export type LinkProgress =
  /** The page's Local Network Access permission for loopback: before knocking, and again if it changed by the link. */
  | { type: "permission"; state: LocalNetworkPermission }
  | { type: "session"; sessionId: string; tuples: number[][]; expiresAt: string; range: ServiceConfig["range"] }
  | { type: "knock"; port: number; tuple: number }
  | { type: "knocked"; port: number; tuple: number; ms: number; error?: string }
  | { type: "waiting" }
  /** A service saw the knocks and asks the person at this computer: say "confirm on your computer". */
  | { type: "confirming" }
  | { type: "linked"; process?: ProcessInfo };

export interface LinkOptions {
  /** The pkipc server. Default: the origin this module was loaded from. */
  server?: string | URL;
  /**
   * A session the SaaS backend created with its API key and handed to this page (the production path).
   * Without it the page asks the server for one itself, which the server allows only for the origins
   * its operator listed (--allow-origin).
   */
  session?: SessionOffer;
  /** A transport name or your own KnockTransport. Default: {@link defaultTransport} for this browser. */
  transport?: BrowserTransportName | KnockTransport;
  /** Longest the whole exchange may take, in ms. Default 10,000. */
  timeoutMs?: number;
  /**
   * "together" (default) knocks every port of the code at once; "tuples" knocks tuple by tuple, as the
   * CLI client does. Together is faster: each tuple otherwise waits for its slowest knock, and Firefox
   * retries a knock the service hung up on for up to ~400 ms. The code is a set, so order carries nothing.
   */
  pace?: "together" | "tuples";
  signal?: AbortSignal;
  onProgress?(event: LinkProgress): void;
}

/** A linked session: who the service found behind this page's knocks. */
export interface LinkResult {
  sessionId: string;
  transport: string;
  tuples: number[][];
  /**
   * Who linked: only when the server shows it to this page, which it does not by default (the SaaS
   * backend reads it with its API key: GET /v1/sessions/{id}).
   */
  process?: ProcessInfo;
  /** From the call to the confirmed link, in ms. */
  timeToLinkMs: number;
  /**
   * The page's Local Network Access permission for loopback when it linked ("unknown" where the browser
   * does not expose it). "denied" with a link is normal today: knocks land before the browser checks.
   */
  permission: LocalNetworkPermission;
  status: SessionStatus;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * How long the knock lock stays held after this page's burst was reported, in ms: the service treats a
 * knock on a port of a process's previous burst within 1 s as a browser retry (Firefox retries for
 * ~400 ms), so another tab's code that reused a port would lose it. Matches the service's window.
 */
export const HOLD_AFTER_MS = 1000;

function defaultServer(): string {
  // The folder the module was served from: the server may be mounted under a path.
  return new URL(".", import.meta.url).href;
}

/**
 * How long after its last knock finished a page waits for any word of a service (a link, a reason, a
 * question to its user) before it concludes none is there (NO_SERVICE), on top of the server's idle gap:
 * a service reports a burst the idle gap after its last knock, plus its attribution and one request.
 */
export const NO_REPORT_GRACE_MS = 1250;

/** Whether a status says a service reported the knocks: it linked, named why not, or is asking its user. */
/**
 * Reasons a report that proves nothing can set (an unsigned report, or one signed by a service this server does
 * not know): any local program that saw the knocked ports could send one before the real service does. They
 * stop nothing: the page keeps waiting for a link, and names such a reason only once the knocks are over and
 * no service linked.
 */
const unproven = (reason: SessionStatus["reason"]) => reason === "SERVICE_NOT_ENROLLED";

const heardOf = (status: SessionStatus) =>
  status.state !== "pending" || (status.reason !== undefined && !unproven(status.reason)) || status.confirming === true;

/**
 * Long-polls the session until it leaves "pending" or names why it will not link; each poll is bounded by
 * what is left of the deadline. `onStatus` sees every status read.
 */
async function waitForLink(
  api: BrowserApi,
  id: string,
  end: number,
  signal: AbortSignal,
  onStatus: (status: SessionStatus) => void,
): Promise<SessionStatus> {
  // A poll that fails on the network (a dropped keep-alive connection) is retried until the deadline.
  const poll = async (wait?: { seconds: number; since: number }): Promise<SessionStatus> => {
    for (;;) {
      try {
        return await api.status(id, wait, signal);
      } catch (error) {
        // a poll closed without an answer (network, or a gateway's 502/504) means "ask again", until the deadline
        if (signal.aborted || !(error instanceof ServerCallError) || ![0, 502, 504].includes(error.status)) throw error;
        await sleep(100);
      }
    }
  };
  let status = await poll();
  onStatus(status);
  while (status.state === "pending" && (status.reason === undefined || unproven(status.reason))) {
    const seconds = Math.max(1, Math.min(25, Math.ceil((end - performance.now()) / 1000)));
    status = await poll({ seconds, since: status.version });
    onStatus(status);
  }
  return status;
}

/** The server's public settings: the port range (for drawing it) and timing. */
export function fetchConfig(
  server: string | URL = defaultServer(),
  signal = AbortSignal.timeout(5000),
): Promise<ServiceConfig> {
  return browserApi(server).config(signal);
}

/**
 * Gets a code from the server, knocks it from this page, and resolves once the local pkipc service
 * has reported it. Rejects with a {@link LinkError} whose code names the cause: NO_SERVICE (the knocks are
 * over and no service said a word within the server's idle gap and {@link NO_REPORT_GRACE_MS}: none runs on
 * this computer, or it reports to another server), SERVICE_NOT_ENROLLED (a service took the knocks but this
 * server does not know it), ADDRESS_MISMATCH (the backend stated another user address than the service
 * reports from; both named), ORIGIN_NOT_PROVEN (the knocks did not carry this page's origin: a TLS transport
 * in Chromium or Firefox), SERVICE_REFUSED_ORIGIN (the service's user does not allow this origin), CSP (this page's Content-Security-Policy refused the knocks or the server
 * calls; the message names the connect-src to add), LOCAL_NETWORK_BLOCKED (nothing linked, and the browser
 * denies this page local network access: the message says how to allow it), DECLINED (the local user said
 * no when the service asked), NOT_ALLOWED (the server does not serve pages of this origin), NOT_LINKED
 * (a service was heard but nothing linked in time), EXPIRED, ABORTED, or SERVER (the server could not be reached).
 */
export async function link(options: LinkOptions = {}): Promise<LinkResult> {
  const start = performance.now();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const end = start + timeoutMs;
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([deadline, options.signal]) : deadline;
  const transport =
    typeof options.transport === "object"
      ? options.transport
      : browserTransports[options.transport ?? defaultTransport()];
  if (!transport)
    throw new LinkError(
      "SERVER",
      `unknown transport "${String(options.transport)}"; one of ${Object.keys(browserTransports).join(", ")}`,
    );
  const api = browserApi(options.server ?? defaultServer());
  const csp = watchConnectSrc();
  // Knocks still finishing after the link (browser retries) must not report progress past the result.
  let settled = false;
  const emit = (event: LinkProgress) => {
    if (settled) return;
    try {
      options.onProgress?.(event);
    } catch {
      // a failing listener must not break the exchange
    }
  };
  const fail = (error: unknown): never => {
    if (error instanceof LinkError) throw error;
    if (options.signal?.aborted) throw new LinkError("ABORTED", "linking was aborted", { cause: error });
    if (deadline.aborted) {
      throw new LinkError(
        "NOT_LINKED",
        `no pkipc service linked this page within ${timeoutMs / 1000} s: is pkipc service running on this computer, holding the server's port range?`,
        { cause: error },
      );
    }
    if (error instanceof ServerCallError && error.status === 403) {
      throw new LinkError(
        "NOT_ALLOWED",
        `the pkipc server at ${api.base} does not serve pages of ${globalThis.location?.origin ?? "this origin"}: ${error.message}`,
        { cause: error },
      );
    }
    if (error instanceof ServerCallError && error.status === 0 && csp.blocked(api.origin)) {
      throw new LinkError(
        "CSP",
        `this page's Content-Security-Policy blocks its calls to the pkipc server: add ${api.origin} to its connect-src`,
        { cause: error },
      );
    }
    if (error instanceof ServerCallError && error.status === 0) {
      // A server that refuses this origin answers without CORS headers, which a page sees as a network error.
      const origin = globalThis.location?.origin ?? "this page's origin";
      throw new LinkError(
        "SERVER",
        `the pkipc server at ${api.base} failed: ${error.message} (is it reachable, and does its operator allow pages of ${origin} with --allow-origin?)`,
        { cause: error },
      );
    }
    if (error instanceof ServerCallError)
      throw new LinkError("SERVER", `the pkipc server at ${api.base} failed: ${error.message}`, { cause: error });
    throw new LinkError("SERVER", `linking failed: ${(error as Error).message}`, { cause: error });
  };

  // Knocks go out as soon as the session is in; the progress they make is told once the "permission"
  // and "session" events (which need the server's configuration) have been, so listeners see the same order.
  // Polls end with link(), whichever way it ends: a poll left open would hold one of the browser's few
  // connections to the server until the deadline, and a page that tries again would queue behind it.
  const polls = new AbortController();
  const pollSignal = AbortSignal.any([signal, polls.signal]);
  let early: LinkProgress[] | undefined = [];
  const emitKnock = (event: LinkProgress) => {
    if (!early) emit(event);
    else if (early.length < 1024) early.push(event); // a code has at most a few dozen ports, two events each
  };
  try {
    // The permission only explains a failure: knock whatever it says, since knocks land before the browser checks.
    const configured = Promise.all([api.config(signal), queryLocalNetworkPermission()]);
    configured.catch(() => {}); // awaited below; keep an early failure from being "unhandled" meanwhile
    const offered = options.session ? Promise.resolve(options.session) : api.createSession(signal);
    // Poll from the start, alongside the knocks: the link is seen one round trip sooner.
    let heard = false;
    let last: SessionStatus | undefined;
    const linked = offered.then((offer) =>
      waitForLink(api, offer.id, end, pollSignal, (status) => {
        if (status.confirming && !heard) emitKnock({ type: "confirming" });
        heard ||= heardOf(status);
        last = status;
      }),
    );
    linked.catch(() => {}); // awaited below; keep an early failure from being "unhandled" meanwhile
    // Rejects when the knocks are over and no service said a word in time: the page need not wait out its timeout.
    let silence!: (error: LinkError) => void;
    const silent = new Promise<never>((_, reject) => (silence = reject));
    silent.catch(() => {});
    // Knock holding the origin's lock, and keep it after knocking so another tab cannot interleave its
    // code: until this burst is reported (linked, or its idle gap passed), then HOLD_AFTER_MS more, so
    // the browser's retries of these knocks are over before another tab's code starts. link() itself
    // resolves at the link; only a second tab waits. The lock is asked for while the session is made
    // (taking it is a round trip to the browser's lock manager): knocks go out once both are in.
    const held = withKnockLock(`pkipc-knock ${api.origin}`, signal, async () => {
      const offer = await offered;
      const tupleOf = new Map(offer.tuples.flatMap((ports, tuple) => ports.map((port) => [port, tuple] as const)));
      const schedule = options.pace === "tuples" ? offer.tuples : [offer.tuples.flat()];
      await knockTuples(transport, schedule, {
        settleMs: offer.settleMs,
        signal,
        onStart: (port) => emitKnock({ type: "knock", port, tuple: tupleOf.get(port) ?? 0 }),
        onKnock: (r) =>
          emitKnock({
            type: "knocked",
            port: r.port,
            tuple: tupleOf.get(r.port) ?? 0,
            ms: r.ms,
            ...(r.error ? { error: r.error } : {}),
          }),
      });
      const [config] = await configured;
      emitKnock({ type: "waiting" });
      // Knocks the page's policy refused never left: known now (the violation events were queued before this task).
      await sleep(0);
      if (csp.knocksBlocked()) silence(csp.error());
      const quiet = await Promise.race([
        linked.then(
          () => false,
          () => false,
        ),
        sleep(config.idleMs + NO_REPORT_GRACE_MS).then(() => true),
      ]);
      if (quiet && !heard) {
        const hint = last?.state === "pending" && unproven(last.reason) ? last : undefined;
        silence(
          csp.knocksBlocked()
            ? csp.error()
            : hint?.reason
              ? new LinkError(hint.reason, hint.detail ?? `the server names ${hint.reason}`)
              : originless(transport.name)
                ? new LinkError(
                    "ORIGIN_NOT_PROVEN",
                    `this page knocked over ${transport.name}, whose knocks carry no Origin in this browser, and the pkipc service reports only knocks that prove the page's origin: use the fetch or ws transport (the default)`,
                  )
                : new LinkError(
                    "NO_SERVICE",
                    `no pkipc service reported this page's knocks (${((config.idleMs + NO_REPORT_GRACE_MS) / 1000).toFixed(1)} s after the last): is pkipc service running on this computer, enrolled with this server?`,
                  ),
        );
      }
      await sleep(HOLD_AFTER_MS);
    });
    held.catch(() => {}); // raced below; a failure before then (the session, the configuration) is thrown from there
    const offer = await offered;
    const [config, permission] = await configured;
    emit({ type: "permission", state: permission });
    emit({
      type: "session",
      sessionId: offer.id,
      tuples: offer.tuples,
      expiresAt: offer.expiresAt,
      range: config.range,
    });
    for (const event of early.splice(0)) emit(event);
    early = undefined;
    // The link usually comes before every knock has finished (browsers retry a knock the service hung
    // up on): resolve at the link; a lock that could not be taken (aborted) fails the race instead.
    const status = await Promise.race([linked, silent, held.then(() => linked)]);
    if (status.state === "pending" && status.reason)
      throw new LinkError(status.reason, status.detail ?? `the server names ${status.reason}`);
    if (status.state === "expired")
      throw new LinkError("EXPIRED", "the code expired before a pkipc service reported it");
    if (status.state === "declined")
      throw new LinkError("DECLINED", "the person at this computer declined the link when the pkipc service asked");
    // Knocking may have changed it (a prompt answered, or a headless browser's automatic denial).
    const permissionNow = await queryLocalNetworkPermission();
    if (permissionNow !== permission) emit({ type: "permission", state: permissionNow });
    emit(status.process ? { type: "linked", process: status.process } : { type: "linked" });
    settled = true;
    polls.abort();
    csp.stop();
    return {
      sessionId: offer.id,
      transport: transport.name,
      tuples: offer.tuples,
      ...(status.process ? { process: status.process } : {}),
      timeToLinkMs: Math.round((performance.now() - start) * 10) / 10,
      permission: permissionNow,
      status,
    };
  } catch (error) {
    settled = true;
    polls.abort();
    // A call the page's policy refused fails before the browser tells of the violation: give it a moment.
    if (error instanceof ServerCallError && error.status === 0) await sleep(100);
    csp.stop();
    const permission = await queryLocalNetworkPermission();
    try {
      return fail(error);
    } catch (failure) {
      throw explainPermission(failure, permission);
    }
  }
}

/**
 * A link that timed out or expired while the browser denies this page local network access becomes
 * LOCAL_NETWORK_BLOCKED, with what the user can do; while the browser still asks, the message says to allow it.
 */
function explainPermission(failure: unknown, permission: LocalNetworkPermission): unknown {
  if (!(failure instanceof LinkError) || !["NO_SERVICE", "NOT_LINKED", "EXPIRED"].includes(failure.code))
    return failure;
  if (permission === "denied")
    return new LinkError("LOCAL_NETWORK_BLOCKED", blockedAdvice(globalThis.location?.origin ?? ""), { cause: failure });
  if (permission === "prompt") {
    return new LinkError(
      failure.code,
      `${failure.message} If the browser asks whether this site may access apps on this device, choose Allow and try again.`,
      { cause: failure.cause },
    );
  }
  return failure;
}

/** Whether this browser's knocks over `transport` carry no Origin: TLS knocks outside WebKit (a ClientHello only). */
const originless = (transport: string) =>
  (transport === "https" || transport === "wss") && browserEngine(globalThis.navigator?.userAgent ?? "") !== "webkit";

/** At most this many policy violations are kept per link: a bound, far above the ports of one code. */
const MAX_VIOLATIONS = 256;

/**
 * Listens for the page's Content-Security-Policy refusing its connections (securitypolicyviolation, connect-src)
 * while a link runs. A refused knock never leaves the browser, so no service can report it: the page says
 * which source to add rather than blame a missing service. Without a document (a worker) it hears nothing.
 */
function watchConnectSrc() {
  const blocked: URL[] = [];
  const target = (globalThis as { document?: EventTarget }).document;
  const onViolation = (event: Event) => {
    const { effectiveDirective, violatedDirective, blockedURI } = event as SecurityPolicyViolationEvent;
    const directive = effectiveDirective || violatedDirective || "";
    if (!directive.startsWith("connect-src") || blocked.length >= MAX_VIOLATIONS) return;
    try {
      blocked.push(new URL(blockedURI));
    } catch {
      // "inline", "eval" and the like: not a connection
    }
  };
  target?.addEventListener("securitypolicyviolation", onViolation);
  const loopback = (url: URL) => ["127.0.0.1", "[::1]", "localhost"].includes(url.hostname);
  return {
    /** Whether a connection to `origin` was refused. */
    blocked: (origin: string) => blocked.some((url) => url.origin === origin),
    /** Whether knocks (connections to loopback) were refused. */
    knocksBlocked: () => blocked.some(loopback),
    /** The failure, naming the connect-src sources to add (one per scheme the knocks used). */
    error(): LinkError {
      const sources = [...new Set(blocked.filter(loopback).map((url) => `${url.protocol}//${url.hostname}:*`))];
      return new LinkError(
        "CSP",
        `this page's Content-Security-Policy blocks the knocks to the pkipc service on this computer: add ${sources.join(" ")} to its connect-src`,
      );
    },
    stop: () => target?.removeEventListener("securitypolicyviolation", onViolation),
  };
}
