// The service talks to its server over https, unless the server is on this machine: its key and instructions must not cross a network in clear.
import { ConfigError } from "../lib/errors.ts";

/** True for names and addresses that never leave this machine: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * Refuses an `http://` server that is not on loopback: enrollment keys, signed reports and
 * instructions would travel in clear.
 * @throws ConfigError naming the URL.
 */
export function requireSecureServer(server: string | URL): void {
  const url = typeof server === "string" ? new URL(server) : server;
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    throw new ConfigError(
      `the server ${url.origin} is reached over plain http, which would send this service's key and instructions in clear: use https:// (http is accepted only on loopback)`,
    );
  }
}
