// How strong an admin secret must be: 128 bits if it were drawn at random from the alphabet it is written in.
import { ConfigError } from "../lib/errors.ts";

/** The least an admin secret must hold, in bits (a guess per nanosecond would need 5 x 10^21 years for half the space). */
export const ADMIN_SECRET_BITS = 128;

/**
 * The alphabets a generated secret is written in, smallest first, with the bits one character holds.
 * Anything outside base64 (words, punctuation) counts as base64 too: a typed phrase holds far less than
 * printable ASCII's 6.6 bits a character, so it gets no credit for it.
 */
const ALPHABETS: ReadonlyArray<{ name: string; pattern: RegExp; bits: number }> = [
  { name: "decimal digits", pattern: /^[0-9]+$/, bits: Math.log2(10) },
  { name: "hexadecimal digits", pattern: /^[0-9a-fA-F]+$/, bits: 4 },
  { name: "base64 characters", pattern: /^[A-Za-z0-9+/_-]+$/, bits: 6 },
];
const OTHER_BITS = 6;

/** Fewer distinct characters than this is a pattern, not a draw (32 random hex digits show about 14 of 16). */
const MIN_DISTINCT = 8;

/**
 * The bits `secret` would hold if each character were drawn at random from the smallest alphabet it fits:
 * length (base64 padding "=" left out) x bits per character. It cannot tell a random secret from a chosen
 * one; it refuses those too short to be strong even if random.
 */
export function adminSecretBits(secret: string): number {
  const body = secret.replace(/=+$/, "");
  const alphabet = ALPHABETS.find((a) => a.pattern.test(body));
  return body.length * (alphabet?.bits ?? OTHER_BITS);
}

/**
 * Throws ConfigError (one sentence, never the secret) unless `secret` may guard the admin endpoints: at
 * least 128 bits by adminSecretBits (22 base64 characters, 32 hex digits or 39 decimal digits) and at
 * least 8 distinct characters.
 */
export function checkAdminSecret(secret: string, name = "the admin secret"): void {
  const bits = adminSecretBits(secret);
  if (bits < ADMIN_SECRET_BITS || new Set(secret).size < MIN_DISTINCT) {
    throw new ConfigError(
      `${name} is too weak (${Math.floor(bits)} bits at most; ${ADMIN_SECRET_BITS} needed: at least 22 random base64 characters, ` +
        `32 hex digits or 39 decimal digits, not a repeated pattern); make one with: openssl rand -base64 24`,
    );
  }
}
