// Signed service requests: an HMAC-SHA256 over method, path, service id, timestamp, nonce and body digest.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { UnauthorizedError } from "../lib/errors.ts";

/** What a service holds after enrollment: its id on the server and the shared key (base64url, 32 bytes). */
export interface ServiceCredentials {
  serviceId: string;
  key: string;
}

/** The headers a signed request carries. Lower case, as fetch and Bun hand them back. */
export const SIGNATURE_HEADERS = {
  service: "x-pkipc-service",
  timestamp: "x-pkipc-timestamp",
  nonce: "x-pkipc-nonce",
  signature: "x-pkipc-signature",
} as const;

const ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;
const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

function canonical(
  method: string,
  path: string,
  serviceId: string,
  timestamp: string,
  nonce: string,
  body: string | Uint8Array,
): string {
  const digest = createHash("sha256").update(body).digest("hex");
  return ["pkipc-v1", method.toUpperCase(), path, serviceId, timestamp, nonce, digest].join("\n");
}

function mac(key: string, text: string): Buffer {
  return createHmac("sha256", Buffer.from(key, "base64url")).update(text).digest();
}

/** The headers that sign one request; `path` is the path with its query string, exactly as sent. */
export function signRequest(
  credentials: ServiceCredentials,
  request: { method: string; path: string; body: string | Uint8Array },
  now = Date.now(),
): Record<string, string> {
  const timestamp = String(now);
  const nonce = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64url");
  const signature = mac(
    credentials.key,
    canonical(request.method, request.path, credentials.serviceId, timestamp, nonce, request.body),
  );
  return {
    [SIGNATURE_HEADERS.service]: credentials.serviceId,
    [SIGNATURE_HEADERS.timestamp]: timestamp,
    [SIGNATURE_HEADERS.nonce]: nonce,
    [SIGNATURE_HEADERS.signature]: signature.toString("base64url"),
  };
}

/** What {@link verifyRequest} needs from the server: keys by service id, the clock window, the replay cache. */
export interface VerifyContext {
  keyOf(serviceId: string): Promise<string | undefined> | string | undefined;
  /** Accepted distance between the request's timestamp and the server's clock, in ms. */
  windowMs: number;
  /**
   * Records a nonce once the signature and timestamp are good; false when it was seen before (a replay).
   * Also the place for the service's own rate limit, taken before the nonce is stored (the server takes it
   * in the same step), so one service cannot fill the shared replay cache. Throws to refuse.
   */
  remember(serviceId: string, nonce: string): Promise<boolean> | boolean;
  now?: () => number;
}

/**
 * Checks a signed request and returns the service id. Throws UnauthorizedError naming the reason. The
 * nonce is recorded only once the signature is good, so forged requests cannot fill the replay cache.
 */
export async function verifyRequest(
  context: VerifyContext,
  request: { method: string; path: string; headers: Headers; body: string | Uint8Array },
): Promise<string> {
  const h = (name: string) => request.headers.get(name) ?? "";
  const serviceId = h(SIGNATURE_HEADERS.service);
  const timestamp = h(SIGNATURE_HEADERS.timestamp);
  const nonce = h(SIGNATURE_HEADERS.nonce);
  const given = h(SIGNATURE_HEADERS.signature);
  if (!serviceId || !timestamp || !nonce || !given) {
    throw new UnauthorizedError(
      "UNSIGNED",
      "this request must be signed by an enrolled service (pkipc service --enroll TOKEN)",
    );
  }
  if (
    !ID_PATTERN.test(serviceId) ||
    !NONCE_PATTERN.test(nonce) ||
    !/^\d{1,15}$/.test(timestamp) ||
    !/^[A-Za-z0-9_-]{43}$/.test(given)
  ) {
    throw new UnauthorizedError("BAD_SIGNATURE", "the signature headers are malformed");
  }
  const key = await context.keyOf(serviceId);
  if (key === undefined)
    throw new UnauthorizedError("UNKNOWN_SERVICE", "no enrolled service has this id (it may have been revoked)");
  const expected = mac(key, canonical(request.method, request.path, serviceId, timestamp, nonce, request.body));
  // Constant time: the comparison must not reveal how many leading bytes of a forgery were right.
  if (!timingSafeEqual(expected, Buffer.from(given, "base64url"))) {
    throw new UnauthorizedError("BAD_SIGNATURE", "the signature does not match the request");
  }
  const skew = Math.abs((context.now ?? Date.now)() - Number(timestamp));
  if (skew > context.windowMs) {
    throw new UnauthorizedError(
      "STALE",
      `the request's timestamp is ${Math.round(skew / 1000)} s from the server's clock (window ${context.windowMs / 1000} s)`,
    );
  }
  if (!(await context.remember(serviceId, nonce)))
    throw new UnauthorizedError("REPLAYED", "this request was already received once (replay)");
  return serviceId;
}

/** Compares two secrets in constant time (for equal lengths; a length difference is not secret). */
export function secretEquals(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
