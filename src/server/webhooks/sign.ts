// Standard Webhooks signing (https://www.standardwebhooks.com): per-key secrets, the three headers, and the URL rule.
import { createHmac, randomBytes } from "node:crypto";
import { InvalidInputError } from "../../lib/errors.ts";

/** Secrets start with this, as the specification's libraries expect; the rest is base64 of the key's bytes. */
export const SECRET_PREFIX = "whsec_";

/** Longest webhook URL accepted. */
export const MAX_WEBHOOK_URL = 2048;

/** A new signing secret: 32 random bytes (the specification asks for 24 to 64). Shown once, at key creation. */
export function webhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString("base64")}`;
}

/**
 * The headers of one delivery attempt: `webhook-signature` is "v1," and the base64 HMAC-SHA256, keyed by
 * the secret's bytes, of "id.timestamp.body". The timestamp is the attempt's (in seconds), so a retry is
 * signed anew while its id stays the event's.
 */
export function signedHeaders(
  secret: string,
  id: string,
  timestampSeconds: number,
  body: string,
): Record<string, string> {
  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, "base64");
  const signature = createHmac("sha256", key).update(`${id}.${timestampSeconds}.${body}`).digest("base64");
  return { "webhook-id": id, "webhook-timestamp": String(timestampSeconds), "webhook-signature": `v1,${signature}` };
}

/**
 * A webhook URL as the server accepts it: http or https, no user name or password in it (they would show
 * in every listing), at most MAX_WEBHOOK_URL characters. Loopback and private addresses are allowed: only
 * the operator (the admin secret) names webhooks, and tests and same-host backends need loopback.
 */
export function checkWebhookUrl(raw: string): string {
  if (raw.length > MAX_WEBHOOK_URL)
    throw new InvalidInputError(`a webhook URL may have at most ${MAX_WEBHOOK_URL} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidInputError(
      `the webhook must be a URL such as https://saas.example/pkipc-events, not "${raw.slice(0, 80)}"`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new InvalidInputError(`the webhook must be an http or https URL, not ${url.protocol.slice(0, 20)}`);
  if (url.username || url.password)
    throw new InvalidInputError("the webhook URL must not hold a user name or password");
  return url.href;
}
