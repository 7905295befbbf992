// The server's defences in one place: who is calling (signature, API key, admin secret, page origin), from where, and how often.
import type { Static, TSchema } from "@sinclair/typebox";
import { ForbiddenError, NotFoundError, UnauthorizedError, UnsupportedMediaTypeError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { decode, decodeUtf8, parseJson } from "../protocol/codec.ts";
import { secretEquals, verifyRequest } from "../protocol/signing.ts";
import { VERSION_HEADER } from "../protocol/endpoint.ts";
import type { ApiKeySummary, NonceCache, ServiceRegistry } from "./state/types.ts";
import { type BucketStore, type Charge, type RateSpec, sharedLimiter } from "../lib/rate-limit.ts";
import { memoryBuckets } from "./state/memory/buckets.ts";
import { nonceCache } from "./state/memory/nonces.ts";
import { clientNetwork } from "./client-network.ts";
import { type PollLimits, pollGate } from "./poll-gate.ts";

/** The security knobs of a server; every one has a safe default in {@link DEFAULT_SECURITY}. */
export interface SecuritySettings {
  /** Refuse unsigned reports, pulls and acks (401). Default true; false only for benchmarks and trusted labs. */
  requireSignatures: boolean;
  /** How far a signed request's timestamp may be from the server's clock, in ms. Default 60,000. */
  signatureWindowMs: number;
  /** Signed requests remembered for replay detection; past it new ones get 429. Default 200,000. */
  maxNonces: number;
  /** Of those, what one service may hold, so one service cannot lock the others out. Default 5,000. */
  maxNoncesPerService: number;
  /** A report links only sessions created for the reporting service's address. Default true. */
  bindOrigin: boolean;
  /**
   * Web origins whose pages may use the browser API (CORS) and create sessions from the browser, e.g.
   * "https://saas.example". The server's own origin is always allowed. Default: none other.
   */
  allowOrigins: string[];
  /** Header a trusted reverse proxy sets to the client's address (e.g. x-forwarded-for); unset trusts only the socket. */
  trustProxyHeader?: string;
  /** Page long polls held at once in this instance: 503 past it. Default 5,000. */
  maxPolls: number;
  /** Page long polls one client network (IPv4 address, IPv6 /64) may hold at once: 429 past it. Default 32. */
  maxPollsPerClient: number;
  /** Long polls one API key may hold at once in this instance: 429 past it. Default 2,000. */
  maxPollsPerApiKey: number;
  /** Secret of the admin endpoints (Authorization: Bearer ...); unset disables them. */
  adminSecret?: string;
  /** How long an enrollment token stays usable, in ms. Default 1 hour. */
  tokenTtlMs: number;
  /** Where enrolled services and API keys are kept; unset keeps them in memory (lost at restart). */
  servicesFile?: string;
  limits: {
    reportsPerService: RateSpec;
    reportsPerAddress: RateSpec;
    sessionsPerAddress: RateSpec;
    enrollPerAddress: RateSpec;
    /** Sessions one API key may create (a SaaS backend asks for all its users). */
    sessionsPerApiKey: RateSpec;
    /** Every signed request of one service (reports, pulls, acks), counted before its nonce is stored. */
    requestsPerService: RateSpec;
    /** Session status reads from one address (pages and clients long-poll; each poll is one read). */
    readsPerAddress: RateSpec;
    /** Status reads and instructions queued by one API key. */
    callsPerApiKey: RateSpec;
    /** Wrong admin secrets from one address; once spent, wrong ones get 429 (the right one always passes). */
    adminFailuresPerAddress: RateSpec;
    /** Wrong admin secrets from all addresses together, so many addresses guess no faster than this. */
    adminFailures: RateSpec;
  };
}

export const DEFAULT_SECURITY: SecuritySettings = {
  requireSignatures: true,
  signatureWindowMs: 60_000,
  maxNonces: 200_000,
  maxNoncesPerService: 5_000,
  bindOrigin: true,
  allowOrigins: [],
  tokenTtlMs: 3_600_000,
  // A page polls one session at a time; 10,000 held polls measured about 150 MiB of RSS (bench/poll-flood.ts).
  maxPolls: 5_000,
  maxPollsPerClient: 32,
  maxPollsPerApiKey: 2_000,
  limits: {
    // A browser's knocks make one report; retries and several tabs make a few. Guessers need millions.
    reportsPerService: { perSecond: 2, burst: 20 },
    reportsPerAddress: { perSecond: 10, burst: 60 },
    sessionsPerAddress: { perSecond: 5, burst: 30 },
    enrollPerAddress: { perSecond: 0.2, burst: 5 },
    sessionsPerApiKey: { perSecond: 100, burst: 1000 },
    // A service watches at most 64 links with 25 s polls and acks each instruction: 20/s is far above that.
    requestsPerService: { perSecond: 20, burst: 200 },
    readsPerAddress: { perSecond: 20, burst: 200 },
    callsPerApiKey: { perSecond: 500, burst: 5000 },
    adminFailuresPerAddress: { perSecond: 0.1, burst: 10 },
    adminFailures: { perSecond: 1, burst: 100 },
  },
};

/** Some settings; the rest (and each limit left out) keep their defaults. */
export type SecurityOverrides = Partial<Omit<SecuritySettings, "limits">> & {
  limits?: Partial<SecuritySettings["limits"]>;
};

/** Settings over the defaults, limits merged one by one. */
export function securitySettings(overrides: SecurityOverrides = {}): SecuritySettings {
  return { ...DEFAULT_SECURITY, ...overrides, limits: { ...DEFAULT_SECURITY.limits, ...overrides.limits } };
}

type RequestIp = { requestIP(request: Request): { address: string } | null } | null | undefined;

const ADDRESS = /^[0-9A-Fa-f:.]{2,45}$/;
/** How often a service's sighting (last seen, address, version) is written, per service and instance. */
const SIGHTING_EVERY_MS = 30_000;
const MAX_NOTED = 10_000;

/**
 * The media type of a request body, lower case, without parameters ("application/json; charset=utf-8"
 * reads as "application/json"); "" when none is given.
 */
function mediaType(request: Request): string {
  return (request.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * The body of a request, read only under its exact media type. A browser sends text/plain,
 * application/x-www-form-urlencoded and multipart/form-data across origins without a preflight: none of
 * them is ever read as JSON.
 */
async function bodyOf(request: Request, accepted: readonly string[]): Promise<{ type: string; text: string }> {
  const text = await request.text();
  const type = mediaType(request);
  if (text === "" && type === "") return { type, text };
  if (!accepted.includes(type)) {
    throw new UnsupportedMediaTypeError(`the body must be ${accepted.join(" or ")}, not ${type || "untyped"}`);
  }
  return { type, text };
}

export type Guard = ReturnType<typeof createGuard>;

/** The caller of a backend route: the API key it presented. */
export type ApiCaller = ApiKeySummary;

/** Where the guard keeps what every instance must share: the replay cache and the rate-limit buckets. */
export interface GuardState {
  nonces?: NonceCache;
  buckets?: BucketStore;
}

export function createGuard(
  settings: SecuritySettings,
  registry: ServiceRegistry,
  log: Logger,
  state: GuardState = {},
) {
  const nonces =
    state.nonces ??
    nonceCache({
      windowMs: settings.signatureWindowMs,
      maxEntries: settings.maxNonces,
      maxPerService: settings.maxNoncesPerService,
    });
  const buckets = state.buckets ?? memoryBuckets();
  const limit = settings.limits;
  const rateLimiter = (spec: RateSpec, what: string, name: string) => sharedLimiter(spec, what, name, buckets);
  const reportsPerService = rateLimiter(limit.reportsPerService, "reports from this service", "report-service");
  const reportsPerAddress = rateLimiter(limit.reportsPerAddress, "reports from this address", "report-address");
  // Reports that prove nothing (unsigned, or of an unknown service) are searched for the session they fit, to tell
  // it why it will not link: a bucket of their own, so a flood of them never spends what honest services on the
  // same address (127.0.0.1: every program of the computer) report with.
  const unprovenPerAddress = rateLimiter(UNPROVEN_REPORTS, "unproven reports from this address", "report-unproven");
  const sessionsPerAddress = rateLimiter(limit.sessionsPerAddress, "sessions from this address", "session-address");
  const enrollPerAddress = rateLimiter(limit.enrollPerAddress, "enrollments from this address", "enroll-address");
  const sessionsPerApiKey = rateLimiter(limit.sessionsPerApiKey, "sessions for this API key", "session-api-key");
  const requestsPerService = rateLimiter(
    limit.requestsPerService,
    "signed requests from this service",
    "request-service",
  );
  const readsPerAddress = rateLimiter(limit.readsPerAddress, "session reads from this address", "read-address");
  const callsPerApiKey = rateLimiter(limit.callsPerApiKey, "calls with this API key", "call-api-key");
  const adminFailuresHere = rateLimiter(
    limit.adminFailuresPerAddress,
    "wrong admin secrets from this address",
    "admin-failure-address",
  );
  const adminFailures = rateLimiter(limit.adminFailures, "wrong admin secrets from all addresses", "admin-failure");
  const identities = new WeakMap<Request, string>();
  /** When each service's last sighting was noted here: at most one registry write per service every SIGHTING_EVERY_MS. */
  const noted = new Map<string, number>();
  function note(id: string, request: Request, server: RequestIp | undefined): void {
    const t = Date.now();
    if ((noted.get(id) ?? 0) + SIGHTING_EVERY_MS > t) return;
    if (noted.size >= MAX_NOTED) noted.clear(); // a bound; the worst case is one more write per service
    noted.set(id, t);
    const version = request.headers.get(VERSION_HEADER) ?? "";
    const seen = {
      at: t,
      address: address(request, server),
      ...(/^[0-9A-Za-z.+-]{1,32}$/.test(version) ? { version } : {}),
    };
    // not awaited: a sighting is for operators, and never delays or fails the service's request
    registry
      .noteSeen(id, seen)
      .catch((error) => log.debug("could not note a service's sighting", { error: (error as Error).message }));
  }
  const header = settings.trustProxyHeader?.toLowerCase();
  const polls = pollGate({
    maxPolls: settings.maxPolls,
    maxPollsPerClient: settings.maxPollsPerClient,
    maxPollsPerApiKey: settings.maxPollsPerApiKey,
  } satisfies PollLimits);
  const allowedOrigins = new Set(settings.allowOrigins);

  async function authenticate(request: Request, body: string | Uint8Array): Promise<string | undefined> {
    const url = new URL(request.url);
    const signed = request.headers.has("x-pkipc-signature");
    if (!settings.requireSignatures && !signed) return undefined;
    try {
      const id = await verifyRequest(
        {
          keyOf: registry.keyOf,
          windowMs: settings.signatureWindowMs,
          // The service's own limit, taken before its nonce is stored and in the same step (one round trip on Redis).
          remember: (service, nonce) => nonces.remember(service, nonce, requestsPerService.charge(service)),
        },
        { method: request.method, path: url.pathname + url.search, headers: request.headers, body },
      );
      identities.set(request, id);
      return id;
    } catch (error) {
      if (error instanceof UnauthorizedError)
        log.debug("refused a service request", { path: url.pathname, reason: error.code });
      throw error;
    }
  }

  /** The bearer credential of a request ("Bearer " and at least one character), else "". */
  const bearer = (request: Request) => {
    const value = request.headers.get("authorization");
    return value !== null && value.length > 7 && value.startsWith("Bearer ") ? value.slice(7) : "";
  };
  function address(request: Request, server: RequestIp): string {
    if (header) {
      const forwarded = request.headers.get(header)?.split(",").at(-1)?.trim();
      if (forwarded && ADDRESS.test(forwarded)) return interned(unmapped(forwarded));
    }
    return interned(unmapped(server?.requestIP(request)?.address ?? "unknown"));
  }
  // One string per address (bounded): the sessions of one client share it, not a copy each in the store.
  const addresses = new Map<string, string>();
  function interned(address: string): string {
    const kept = addresses.get(address);
    if (kept !== undefined) return kept;
    if (addresses.size >= MAX_NOTED) addresses.clear();
    addresses.set(address, address);
    return address;
  }
  /** Charges of each API key, made once: a backend issues all its sessions with the same key. */
  const keyCharges = new Map<string, readonly Charge[]>();

  return {
    settings,
    registry,
    /** Live nonces, in all and of one service (for tests and metrics). */
    nonces,
    /** Also allow `origin` (the server adds its own once it knows its port). */
    allowOrigin(origin: string): void {
      allowedOrigins.add(origin);
    },
    /** Whether pages of `origin` may use the browser API. */
    originAllowed: (origin: string) => allowedOrigins.has(origin),
    /** The client's address: the trusted proxy's header when configured and present, else the socket's peer. */
    address,
    /**
     * A page's Origin header, checked: undefined for a request without one (not made by a page's script),
     * the origin when it is allowed, ForbiddenError ORIGIN_NOT_ALLOWED otherwise.
     */
    pageOrigin(request: Request): string | undefined {
      const origin = request.headers.get("origin");
      if (origin === null) return undefined;
      if (!allowedOrigins.has(origin)) {
        throw new ForbiddenError(
          `pages of ${origin.slice(0, 256)} may not use this pkipc server (not on its --allow-origin list)`,
          "ORIGIN_NOT_ALLOWED",
        );
      }
      return origin;
    },
    /**
     * The API key a request presents (Authorization: Bearer pkak_...), or undefined when it presents none.
     * A key that is unknown or revoked is refused, not ignored.
     */
    async apiKey(request: Request): Promise<ApiCaller | undefined> {
      const key = await this.presentedApiKey(request);
      if (key) await callsPerApiKey.take(key.id);
      return key;
    },
    /** Like apiKey(), but the call is not counted yet: the caller hands sessionCharges() to the write it makes. */
    async presentedApiKey(request: Request): Promise<ApiCaller | undefined> {
      const given = bearer(request);
      if (!given) return undefined;
      const key = await registry.apiKeyOf(given);
      if (!key) throw new UnauthorizedError("BAD_API_KEY", "the API key is unknown or revoked");
      return key;
    },
    /** Like apiKey(), but a request without one is refused: the routes only a SaaS backend may call. */
    async requireApiKey(request: Request): Promise<ApiCaller> {
      const key = await this.apiKey(request);
      if (!key)
        throw new UnauthorizedError(
          "API_KEY_REQUIRED",
          "this needs the SaaS backend's API key (Authorization: Bearer pkak_...); pkipc admin api-key makes one",
        );
      return key;
    },
    /**
     * An Elysia parse hook for a signed route: reads the raw body (the signature covers its bytes),
     * checks the signature, then decodes it as its media type says: application/json or application/xml.
     */
    signedBody<S extends TSchema>(schema: S, unknownService?: UnknownServiceHook<S>) {
      return async ({ request, server }: { request: Request; server?: RequestIp }) => {
        const type = mediaType(request);
        const bytes = new Uint8Array(await request.arrayBuffer());
        if (!(bytes.length === 0 && type === "") && type !== "application/json" && type !== "application/xml") {
          throw new UnsupportedMediaTypeError(
            `the body must be application/json or application/xml, not ${type || "untyped"}`,
          );
        }
        let id: string | undefined;
        try {
          id = await authenticate(request, bytes);
        } catch (error) {
          // Refused all the same; the hook only learns what the body says (a body that does not decode says nothing).
          if (
            unknownService &&
            error instanceof UnauthorizedError &&
            (error.code === "UNSIGNED" || error.code === "UNKNOWN_SERVICE")
          ) {
            let body: Static<S> | undefined;
            try {
              body = decode(schema, decodeUtf8(bytes), type === "application/xml" ? "xml" : "json");
            } catch {}
            if (body !== undefined) await unknownService(body, address(request, server), error);
          }
          throw error;
        }
        if (id) note(id, request, server);
        try {
          const text = decodeUtf8(bytes);
          if (type === "application/xml") return decode(schema, text, "xml");
          return parseJson(text);
        } catch (error) {
          // A refused body costs its sender like a report does, so a flood of them meets the same limits.
          await reportsPerAddress.take(address(request, server));
          if (id) await reportsPerService.take(id);
          throw error;
        }
      };
    },
    /** A beforeHandle hook for a signed route without a body. */
    async signedNoBody({ request, server }: { request: Request; server?: RequestIp }): Promise<void> {
      const id = await authenticate(request, "");
      if (id) note(id, request, server);
    },
    /** The enrolled service that signed this request (undefined when signatures are off and it was unsigned). */
    serviceOf: (request: Request) => identities.get(request),
    /**
     * Throws unless the request carries the admin secret; the endpoints do not exist without one. The right
     * secret always passes, so no one can lock the operator out. A wrong one counts against its address and
     * against all addresses together (429 once either is spent). A request without a Bearer credential
     * counts against nothing: it is what any web page can send without CORS (a no-cors POST cannot set
     * Authorization, and no admin route answers a preflight), so it must not spend the operator's allowance.
     */
    async requireAdmin(request: Request, address: string): Promise<void> {
      if (!settings.adminSecret)
        throw new NotFoundError("admin endpoints are disabled (no admin secret is configured)");
      const given = bearer(request);
      if (given && secretEquals(given, settings.adminSecret)) return;
      if (!given)
        throw new UnauthorizedError(
          "BAD_ADMIN_SECRET",
          "the admin secret is missing (Authorization: Bearer ADMIN_SECRET)",
        );
      // The address first: one address that spent its own allowance cannot spend everyone's.
      await adminFailuresHere.take(address);
      await adminFailures.take("all");
      log.warn("a request with a wrong admin secret", { address });
      throw new UnauthorizedError("BAD_ADMIN_SECRET", "the admin secret is wrong");
    },
    /**
     * What creating a session costs, in order: a call and a session of the API key (from presentedApiKey), or a
     * session of the address. Sessions.create takes them with its insert.
     */
    sessionCharges(address: string, apiKey?: ApiCaller): readonly Charge[] {
      if (!apiKey) return sessionsPerAddress.charge(clientNetwork(address));
      let charges = keyCharges.get(apiKey.id);
      if (charges === undefined) {
        if (keyCharges.size >= MAX_NOTED) keyCharges.clear(); // bounded: keys are few, their list is made again
        charges = [...callsPerApiKey.charge(apiKey.id), ...sessionsPerApiKey.charge(apiKey.id)];
        keyCharges.set(apiKey.id, charges);
      }
      return charges;
    },
    /** Status reads: by API key for a backend (already counted by apiKey()), else by client network. */
    async limitRead(address: string, apiKey?: ApiCaller): Promise<void> {
      if (!apiKey) await readsPerAddress.take(clientNetwork(address));
    },
    /**
     * Admits one long poll of a page (by its client network) or of an API key, or throws 429 (its own bound) or
     * 503 (all pages' bound) at once; the answer calls the release it returns.
     */
    holdPoll(address: string, apiKey?: ApiCaller): () => void {
      return polls.enter(apiKey ? { apiKeyId: apiKey.id } : { network: clientNetwork(address) });
    },
    /** Page polls held now. */
    pagePolls: () => polls.pagePolls(),
    /** What a report costs: one of its address, and one of the service that signed it. Sessions.report takes them. */
    /** What searching an unproven report's session costs: its own bucket per address (see unprovenPerAddress). */
    unprovenReportCharges(address: string): Charge[] {
      return unprovenPerAddress.charge(address);
    },
    reportCharges(serviceId: string | undefined, address: string): Charge[] {
      return [...reportsPerAddress.charge(address), ...(serviceId ? reportsPerService.charge(serviceId) : [])];
    },
    async limitEnroll(address: string): Promise<void> {
      await enrollPerAddress.take(address);
    },
  };
}

/** An address without the IPv4-mapped prefix: "::ffff:127.0.0.1" reads as 127.0.0.1. */
const unmapped = (address: string) =>
  address.length > 7 && address.charCodeAt(0) === 58 && /^::ffff:/i.test(address) ? address.slice(7) : address;

/** How often one address's unproven reports are searched for the session they fit; past it they are only refused. */
const UNPROVEN_REPORTS: RateSpec = { perSecond: 2, burst: 10 };

/**
 * Told of a signed route's body that was refused because its service is unknown (UNSIGNED or UNKNOWN_SERVICE),
 * with the sender's address, before the refusal is answered. May throw (e.g. a rate limit), which answers instead.
 */
export type UnknownServiceHook<S extends TSchema> = (
  body: Static<S>,
  address: string,
  refusal: UnauthorizedError,
) => Promise<void>;

/**
 * The parse hook of every unsigned body: JSON only, under its exact media type, within the size and
 * nesting bounds of parseJson, so no body reaches Elysia's validator deep enough to stall it.
 */
export function jsonBody({ request }: { request: Request }): Promise<unknown> | undefined {
  // No body and no media type (a backend's bare POST /v1/sessions): nothing to read, and no promise to wait for.
  if (request.body === null && !request.headers.has("content-type")) return undefined;
  return bodyOf(request, ["application/json"]).then(({ text }) => (text === "" ? undefined : parseJson(text)));
}
