// The consent question's words: the same facts as the terminal prompt, escaped the same way.
import { printable } from "../../lib/printable.ts";
import type { ConsentRequest, ConsentText } from "./types.ts";

/** Most instruction or key names listed; more are counted, not shown (the dialog must stay readable). */
const MAX_LISTED = 8;

const list = (names: readonly string[]) =>
  names.length <= MAX_LISTED
    ? names.join(", ")
    : `${names.slice(0, MAX_LISTED).join(", ")} and ${names.length - MAX_LISTED} more`;

/**
 * The title and body of the question. Names and paths come from other programs and the origin from a
 * website: each is passed through printable(), so none can paint its own text (control and bidi
 * characters show as escapes). Dialogs that read markup escape further (see escapeMarkup).
 */
export function consentText(request: ConsentRequest): ConsentText {
  const p = request.process;
  const browser = p.browser ? `${p.browser.name} ${p.browser.version}` : p.name;
  const site = request.origin === "none" ? "a program on this computer (no website)" : request.origin;
  const asks = request.instructions.length ? `It asks to: ${list(request.instructions)}.` : "It asks for nothing yet.";
  const keys = request.keys.length ? ` Keys it would store: ${list(request.keys)}.` : "";
  const what = request.afterLink
    ? `${site} (linked through ${browser}) asks for more.`
    : `${site} wants to link this computer through ${browser}.`;
  return {
    title: printable(request.afterLink ? `pkipc: ${site} asks for more` : `pkipc: link ${site}?`),
    body: printable(
      `${what} ${asks}${keys} Process ${p.name} (pid ${p.pid}, user ${p.user}, ${p.exe || "exe unknown"}).`,
    ),
  };
}

/** For notification servers that read body markup (a subset of HTML): shown as text, never as tags. */
export const escapeMarkup = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
