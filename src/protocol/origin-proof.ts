// Which web origin a burst of knocks proves, and whether a session of an origin may link from it.
import { basename } from "node:path";
import type { ProcessInfo } from "./schemas.ts";

/**
 * Knocking programs whose knocks cannot carry the page's origin where they link: WebKit's network process
 * (Safari, every iOS browser, WebKitGTK). From an https page WebKit blocks http: and ws: to loopback as
 * mixed content, so its only knocks are TLS ones, which carry a ClientHello and no Origin.
 */
const ORIGINLESS_KNOCKERS = new Set(["WebKitNetworkProcess", "WebKitNetworkPr", "com.apple.WebKit.Networking"]);

/**
 * Whether the knocking program can prove its page's origin (an `Origin` header in a knock's first bytes):
 * every program but WebKit's network process. Chromium and Firefox (and the CLI client) can, so a burst of
 * theirs without an origin proves none, and links no session that has one.
 */
export function knockerCarriesOrigin(process: Pick<ProcessInfo, "name" | "exe">): boolean {
  return !ORIGINLESS_KNOCKERS.has(process.name) && !ORIGINLESS_KNOCKERS.has(basename(process.exe));
}

/**
 * Why a burst may not link a session, or undefined when it may. `knockOrigin` is the origin every knock
 * of the burst carried (undefined: none); `sessionOrigin` the session's (undefined: a session with none).
 * A session links only knocks that carry its origin, except knocks without one from a program that cannot
 * send one (WebKit): there the address binding and the service's allow-lists are what is left.
 */
export function originRefusal(
  knockOrigin: string | undefined,
  sessionOrigin: string | undefined,
  process: Pick<ProcessInfo, "name" | "exe">,
): string | undefined {
  if (knockOrigin === sessionOrigin) return undefined;
  if (knockOrigin === undefined && !knockerCarriesOrigin(process)) return undefined;
  const session = sessionOrigin ?? "no origin";
  if (knockOrigin === undefined) {
    return `the knocks carried no Origin, and ${process.name} sends one with every knock that can prove it; the session belongs to ${session}`;
  }
  return `the knocks came from a page of ${knockOrigin}; the session belongs to ${session}`;
}
