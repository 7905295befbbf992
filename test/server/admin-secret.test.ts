// The admin secret's strength rule at its edges: 128 bits as if random, in the smallest alphabet the secret fits.
import { describe, expect, test } from "bun:test";
import { adminSecretBits, checkAdminSecret } from "../../src/server/admin-secret.ts";
import { ConfigError } from "../../src/lib/errors.ts";

const random = (alphabet: string, length: number) =>
  Array.from(crypto.getRandomValues(new Uint8Array(length)), (b) => alphabet[b % alphabet.length]).join("");
const HEX = "0123456789abcdef";
const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

describe("admin secret strength", () => {
  test("22 base64 characters, 32 hex digits and 39 decimal digits pass; one fewer is refused", () => {
    expect(() => checkAdminSecret(random(BASE64URL, 22))).not.toThrow();
    expect(adminSecretBits("g".repeat(22))).toBe(132);
    expect(adminSecretBits("0123456789abcdef0123456789abcdef")).toBe(128);
    expect(adminSecretBits("0123456789abcdef0123456789abcde")).toBe(124);
    expect(Math.floor(adminSecretBits("0".repeat(39)))).toBe(129);
    expect(adminSecretBits("Zm9vYmFyYmF6cXV4cXV1eA==")).toBe(22 * 6); // padding is not counted
    expect(() => checkAdminSecret("0123456789abcdef0123456789abcdef")).not.toThrow();
    expect(() => checkAdminSecret("0123456789abcdef0123456789abcde")).toThrow(ConfigError);
    expect(() => checkAdminSecret("Zm9vYmFyYmF6cXV4cXV1e")).toThrow(ConfigError);
    expect(() => checkAdminSecret(random(HEX, 40))).not.toThrow();
  });

  test("a repeated pattern is refused whatever its length; the message never holds the secret", () => {
    const weak = "ab".repeat(40);
    expect(() => checkAdminSecret(weak)).toThrow(ConfigError);
    try {
      checkAdminSecret(weak, "--admin-secret");
    } catch (error) {
      expect((error as Error).message).toStartWith("--admin-secret is too weak");
      expect((error as Error).message).not.toContain(weak);
    }
  });
});
