// The server's defences in one place: who is calling (signature, admin secret), from where, and how often.
import type { TSchema } from "@sinclair/typebox";
import { DecodeError, NotFoundError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { decode, decodeUtf8, parseJson } from "../protocol/codec.ts";
import { secretEquals, UnauthorizedError, verifyRequest } from "../protocol/signing.ts";
import type { ServiceRegistry } from "./enroll.ts";
import { type RateSpec, rateLimiter } from "../lib/rate-limit.ts";
import { nonceCache } from "./limits.ts";

/** The security knobs of a server; every one has a safe default in {@link DEFAULT_SECURITY}. */
export interface SecuritySettings {
  /** Refuse unsigned reports, pulls and acks (401). Default true; false only for benchmarks and trusted labs. */
  requireSignatures: boolean;
  /** How far a signed request's timestamp may be from the server's clock, in ms. Default 60,000. */
  signatureWindowMs: number;
  /** Signed requests remembered for replay detection; past it new ones get 429. Default 200,000. */
  maxNonces: number;
  /** A report links only sessions created from the reporting service's address. Default true. */
  bindOrigin: boolean;
  /** Header a trusted reverse proxy sets to the client's address (e.g. x-forwarded-for); unset trusts only the socket. */
  trustProxyHeader?: string;
  /** Secret of the admin endpoints (Authorization: Bearer ...); unset disables them. */
  adminSecret?: string;
  /** How long an enrollment token stays usable, in ms. Default 1 hour. */
  tokenTtlMs: number;
  /** Where enrolled services are kept; unset keeps them in memory (lost at restart). */
  servicesFile?: string;
  limits: {
    reportsPerService: RateSpec;
    reportsPerAddress: RateSpec;
    sessionsPerAddress: RateSpec;
    enrollPerAddress: RateSpec;
  };
}

export const DEFAULT_SECURITY: SecuritySettings = {
  requireSignatures: true,
  signatureWindowMs: 60_000,
  maxNonces: 200_000,
  bindOrigin: true,
  tokenTtlMs: 3_600_000,
  limits: {
    // A browser's knocks make one report; retries and several tabs make a few. Guessers need millions.
    reportsPerService: { perSecond: 2, burst: 20 },
    reportsPerAddress: { perSecond: 10, burst: 60 },
    sessionsPerAddress: { perSecond: 5, burst: 30 },
    enrollPerAddress: { perSecond: 0.2, burst: 5 },
  },
};

/** Some settings; the rest (and each limit left out) keep their defaults. */
export type SecurityOverrides = Partial<Omit<SecuritySettings, "limits">> & { limits?: Partial<SecuritySettings["limits"]> };

/** Settings over the defaults, limits merged one by one. */
export function securitySettings(overrides: SecurityOverrides = {}): SecuritySettings {
  return { ...DEFAULT_SECURITY, ...overrides, limits: { ...DEFAULT_SECURITY.limits, ...overrides.limits } };
}

type RequestIp = { requestIP(request: Request): { address: string } | null } | null | undefined;

const ADDRESS = /^[0-9A-Fa-f:.]{2,45}$/;

export type Guard = ReturnType<typeof createGuard>;

export function createGuard(settings: SecuritySettings, registry: ServiceRegistry, log: Logger) {
  const nonces = nonceCache({ windowMs: settings.signatureWindowMs, maxEntries: settings.maxNonces });
  const reportsPerService = rateLimiter(settings.limits.reportsPerService, "reports from this service");
  const reportsPerAddress = rateLimiter(settings.limits.reportsPerAddress, "reports from this address");
  const sessionsPerAddress = rateLimiter(settings.limits.sessionsPerAddress, "sessions from this address");
  const enrollPerAddress = rateLimiter(settings.limits.enrollPerAddress, "enrollments from this address");
  const identities = new WeakMap<Request, string>();
  const header = settings.trustProxyHeader?.toLowerCase();

  function authenticate(request: Request, body: string | Uint8Array): string | undefined {
    const url = new URL(request.url);
    const signed = request.headers.has("x-pkipc-signature");
    if (!settings.requireSignatures && !signed) return undefined;
    try {
      const id = verifyRequest(
        { keyOf: registry.keyOf, windowMs: settings.signatureWindowMs, remember: nonces.remember },
        { method: request.method, path: url.pathname + url.search, headers: request.headers, body },
      );
      identities.set(request, id);
      return id;
    } catch (error) {
      if (error instanceof UnauthorizedError) log.debug("refused a service request", { path: url.pathname, reason: error.code });
      throw error;
    }
  }

  function address(request: Request, server: RequestIp): string {
    if (header) {
      const forwarded = request.headers.get(header)?.split(",").at(-1)?.trim();
      if (forwarded && ADDRESS.test(forwarded)) return forwarded.replace(/^::ffff:/i, "");
    }
    return (server?.requestIP(request)?.address ?? "unknown").replace(/^::ffff:/i, "");
  }

  return {
    settings,
    registry,
    /** The client's address: the trusted proxy's header when configured and present, else the socket's peer. */
    address,
    /**
     * An Elysia parse hook for a signed route: reads the raw body (the signature covers its bytes),
     * checks the signature, then decodes JSON, or XML when the content type says so.
     */
    signedBody(schema: TSchema) {
      return async ({ request, server }: { request: Request; server?: RequestIp }) => {
        const bytes = new Uint8Array(await request.arrayBuffer());
        const id = authenticate(request, bytes);
        try {
          const text = decodeUtf8(bytes);
          const type = request.headers.get("content-type") ?? "";
          if (/\bxml\b/i.test(type)) return decode(schema, text, "xml");
          return parseJson(text);
        } catch (error) {
          // A refused body costs its sender like a report does, so a flood of them meets the same limits.
          reportsPerAddress.take(address(request, server));
          if (id) reportsPerService.take(id);
          throw error;
        }
      };
    },
    /** A beforeHandle hook for a signed route without a body. */
    signedNoBody({ request }: { request: Request }): void {
      authenticate(request, "");
    },
    /** The enrolled service that signed this request (undefined when signatures are off and it was unsigned). */
    serviceOf: (request: Request) => identities.get(request),
    /** Throws unless the request carries the admin secret; the endpoints do not exist without one. */
    requireAdmin(request: Request): void {
      if (!settings.adminSecret) throw new NotFoundError("admin endpoints are disabled (no admin secret is configured)");
      const given = /^Bearer (.+)$/.exec(request.headers.get("authorization") ?? "")?.[1] ?? "";
      if (!secretEquals(given, settings.adminSecret)) throw new UnauthorizedError("BAD_ADMIN_SECRET", "the admin secret is missing or wrong");
    },
    limitSession(address: string): void {
      sessionsPerAddress.take(address);
    },
    limitReport(serviceId: string | undefined, address: string): void {
      reportsPerAddress.take(address);
      if (serviceId) reportsPerService.take(serviceId);
    },
    limitEnroll(address: string): void {
      enrollPerAddress.take(address);
    },
  };
}

/**
 * The parse hook of every unsigned JSON body: the size and nesting bounds of parseJson, so no body
 * reaches Elysia's validator deep enough to stall it. XML bodies are refused here (no such route takes XML).
 */
export async function jsonBody({ request }: { request: Request }): Promise<unknown> {
  const type = request.headers.get("content-type") ?? "";
  if (type && !/\bjson\b/i.test(type)) throw new DecodeError(`the body must be JSON, not ${type.split(";")[0]}`);
  return parseJson(await request.text());
}
