// Reads the web origin a knock proves: the `Origin` header in the first bytes a browser sends on the connection.
import { WEB_ORIGIN_PATTERN } from "../protocol/schemas.ts";

/** Most bytes of a knock read for its header; a browser's request head is far smaller (cookies aside). */
export const MAX_HEAD_BYTES = 16 * 1024;

/** What the first bytes of a knock say so far: still reading, or done with the origin they prove (undefined: none). */
export type HeadVerdict = { done: false } | { done: true; origin: string | undefined };

const CRLF2 = "\r\n\r\n";
/** Request methods a browser's knock starts with (fetch, img, WebSocket); anything else carries no header to trust. */
const HTTP_START = /^(GET|POST|PUT|HEAD|OPTIONS|DELETE|PATCH) /;

/**
 * Reads the head of a knock. Only an HTTP request's header block counts (never its body, which a page
 * writes): a TLS ClientHello (first byte 0x16), other bytes, or a head with no or more than one `Origin`
 * line prove no origin. `final` says no more bytes will come (the peer closed, the size or time bound
 * was reached): then the complete header lines read so far decide.
 */
export function readKnockHead(head: string, final: boolean): HeadVerdict {
  if (head.length === 0) return final ? { done: true, origin: undefined } : { done: false };
  if (head.charCodeAt(0) === 0x16) return { done: true, origin: undefined };
  // A method's capital letters may still be arriving; anything else that is not "METHOD " is no HTTP request.
  const word = /^[A-Z]{0,7}/.exec(head)![0];
  if (head.length > word.length && !HTTP_START.test(head)) return { done: true, origin: undefined };
  const end = head.indexOf(CRLF2);
  if (end < 0 && !final) return { done: false };
  // Without the blank line, only whole lines count: a cut-off last line may be a longer header's start.
  const block = end >= 0 ? head.slice(0, end) : head.slice(0, Math.max(0, head.lastIndexOf("\r\n")));
  if (!HTTP_START.test(block)) return { done: true, origin: undefined };
  return { done: true, origin: originLine(block) };
}

/** The one `Origin` header of a header block, when it is a web origin; two of them, "null" or anything else: none. */
function originLine(block: string): string | undefined {
  let found: string | undefined;
  let count = 0;
  for (const line of block.split("\r\n").slice(1)) {
    if (line.length < 7 || line.slice(0, 7).toLowerCase() !== "origin:") continue;
    count++;
    found = line.slice(7).trim();
  }
  if (count !== 1 || found === undefined) return undefined;
  return WEB_ORIGIN_PATTERN.test(found) && found.length <= 256 ? found : undefined;
}
