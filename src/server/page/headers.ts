// The headers of every HTML page pkipc serves: its own scripts only, no framing, no type sniffing.
import { createHash } from "node:crypto";

/**
 * Where a page's knocks go: loopback on any port, over each transport the browser module has. A
 * Content-Security-Policy checks these before connecting, so a host missing here would silently stop links.
 * No `[::1]`: a CSP host source cannot be an IPv6 literal (Chromium drops each with a console error), and the
 * module knocks 127.0.0.1.
 */
const KNOCK_SOURCES = ["http", "https", "ws", "wss"].flatMap((scheme) =>
  ["127.0.0.1", "localhost"].map((host) => `${scheme}://${host}:*`),
);

/** A hash source for each inline <style> block, so styles need no 'unsafe-inline' (the pages have no style attributes). */
function styleSources(html: string): string[] {
  return [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map(
    (m) => `'sha256-${createHash("sha256").update(m[1]!).digest("base64")}'`,
  );
}

/**
 * The headers of an HTML page: its content type, a Content-Security-Policy that runs scripts of the
 * page's own origin only (no CDN, no inline script), lets it connect to its own origin, to `connect`
 * (e.g. the pkipc server of a SaaS page) and to loopback for knocks, and forbids framing
 * (frame-ancestors 'none': no other site can overlay the page); X-Content-Type-Options: nosniff.
 * Computed once per page: the pages are fixed at build time.
 */
export function htmlHeaders(html: string, connect: readonly string[] = []): Record<string, string> {
  const styles = styleSources(html);
  const policy = [
    "default-src 'none'",
    "script-src 'self'",
    `style-src ${styles.length ? styles.join(" ") : "'none'"}`,
    "img-src 'self'",
    `connect-src 'self' ${[...connect, ...KNOCK_SOURCES].join(" ")}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  return {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-cache",
    "content-security-policy": policy,
    "x-content-type-options": "nosniff",
  };
}
