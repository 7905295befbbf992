// The browser module (served as /pkipc.js): one call that gets a code, knocks it from this page, and waits for the link.
import type { ProcessInfo, ServiceConfig, SessionOffer, SessionStatus } from "../../protocol/schemas.ts";
import { knockTuples } from "../knock.ts";
import type { KnockTransport } from "../transport.ts";
import { type BrowserApi, browserApi, ServerCallError } from "./api.ts";
import { withKnockLock } from "./lock.ts";
import { blockedAdvice, type LocalNetworkPermission, queryLocalNetworkPermission } from "./permission.ts";
import { type BrowserTransportName, browserTransports } from "./transports.ts";

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
const DEFAULT_TRANSPORT: Record<BrowserEngine, BrowserTransportName> = { chromium: "fetch", firefox: "ws", webkit: "https" };

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

/** Why link() failed: a stable code and one sentence. */
export class LinkError extends Error {
  readonly code: "NOT_LINKED" | "EXPIRED" | "ABORTED" | "SERVER" | "NOT_ALLOWED" | "LOCAL_NETWORK_BLOCKED" | "DECLINED";
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

/** Long-polls the session until it leaves "pending"; each poll is bounded by what is left of the deadline. */
async function waitForLink(api: BrowserApi, id: string, end: number, signal: AbortSignal): Promise<SessionStatus> {
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
  while (status.state === "pending") {
    const seconds = Math.max(1, Math.min(25, Math.ceil((end - performance.now()) / 1000)));
    status = await poll({ seconds, since: status.version });
  }
  return status;
}

/** The server's public settings: the port range (for drawing it) and timing. */
export function fetchConfig(server: string | URL = defaultServer(), signal = AbortSignal.timeout(5000)): Promise<ServiceConfig> {
  return browserApi(server).config(signal);
}

/**
 * Gets a code from the server, knocks it from this page, and resolves once the local pkipc service
 * has reported it. Rejects with a {@link LinkError}: NOT_LINKED (nothing linked in time: no service
 * running, or every knock refused), LOCAL_NETWORK_BLOCKED (nothing linked, and the browser denies this
 * page local network access: the message says how to allow it), EXPIRED, DECLINED (the local user said no when the service asked), ABORTED, NOT_ALLOWED, or
 * SERVER (the server could not be reached).
 */
export async function link(options: LinkOptions = {}): Promise<LinkResult> {
  const start = performance.now();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const end = start + timeoutMs;
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([deadline, options.signal]) : deadline;
  const transport = typeof options.transport === "object" ? options.transport : browserTransports[options.transport ?? defaultTransport()];
  if (!transport) throw new LinkError("SERVER", `unknown transport "${String(options.transport)}"; one of ${Object.keys(browserTransports).join(", ")}`);
  const api = browserApi(options.server ?? defaultServer());
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
      throw new LinkError("NOT_LINKED", `no pkipc service linked this page within ${timeoutMs / 1000} s: is pkipc service running on this computer, holding the server's port range?`, { cause: error });
    }
    if (error instanceof ServerCallError && error.status === 403) {
      throw new LinkError("NOT_ALLOWED", `the pkipc server at ${api.base} does not serve pages of ${globalThis.location?.origin ?? "this origin"}: ${error.message}`, { cause: error });
    }
    if (error instanceof ServerCallError && error.status === 0) {
      // A server that refuses this origin answers without CORS headers, which a page sees as a network error.
      const origin = globalThis.location?.origin ?? "this page's origin";
      throw new LinkError("SERVER", `the pkipc server at ${api.base} failed: ${error.message} (is it reachable, and does its operator allow pages of ${origin} with --allow-origin?)`, { cause: error });
    }
    if (error instanceof ServerCallError) throw new LinkError("SERVER", `the pkipc server at ${api.base} failed: ${error.message}`, { cause: error });
    throw new LinkError("SERVER", `linking failed: ${(error as Error).message}`, { cause: error });
  };

  // Knocks go out as soon as the session is in; the progress they make is told once the "permission"
  // and "session" events (which need the server's configuration) have been, so listeners see the same order.
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
    const linked = offered.then((offer) => waitForLink(api, offer.id, end, signal));
    linked.catch(() => {}); // awaited below; keep an early failure from being "unhandled" meanwhile
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
        onKnock: (r) => emitKnock({ type: "knocked", port: r.port, tuple: tupleOf.get(r.port) ?? 0, ms: r.ms, ...(r.error ? { error: r.error } : {}) }),
      });
      const [config] = await configured;
      emitKnock({ type: "waiting" });
      await Promise.race([linked.catch(() => {}), sleep(config.idleMs + 250)]);
      await sleep(HOLD_AFTER_MS);
    });
    held.catch(() => {}); // raced below; a failure before then (the session, the configuration) is thrown from there
    const offer = await offered;
    const [config, permission] = await configured;
    emit({ type: "permission", state: permission });
    emit({ type: "session", sessionId: offer.id, tuples: offer.tuples, expiresAt: offer.expiresAt, range: config.range });
    for (const event of early.splice(0)) emit(event);
    early = undefined;
    // The link usually comes before every knock has finished (browsers retry a knock the service hung
    // up on): resolve at the link; a lock that could not be taken (aborted) fails the race instead.
    const status = await Promise.race([linked, held.then(() => linked)]);
    if (status.state === "expired") throw new LinkError("EXPIRED", "the code expired before a pkipc service reported it");
    if (status.state === "declined") throw new LinkError("DECLINED", "the person at this computer declined the link when the pkipc service asked");
    // Knocking may have changed it (a prompt answered, or a headless browser's automatic denial).
    const permissionNow = await queryLocalNetworkPermission();
    if (permissionNow !== permission) emit({ type: "permission", state: permissionNow });
    emit(status.process ? { type: "linked", process: status.process } : { type: "linked" });
    settled = true;
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
  if (!(failure instanceof LinkError) || (failure.code !== "NOT_LINKED" && failure.code !== "EXPIRED")) return failure;
  if (permission === "denied") return new LinkError("LOCAL_NETWORK_BLOCKED", blockedAdvice(globalThis.location?.origin ?? ""), { cause: failure });
  if (permission === "prompt") {
    return new LinkError(failure.code, `${failure.message} If the browser asks whether this site may access apps on this device, choose Allow and try again.`, { cause: failure.cause });
  }
  return failure;
}
