// The desktop-consent seam: one dialog per desktop (a notification over D-Bus, zenity, osascript, a Win32 dialog).
import type { ProcessInfo } from "../../protocol/schemas.ts";

/** The local user's answer; no answer in time is "deny". */
export type ConsentAnswer = "once" | "always" | "deny";

/** What the service asks about: who knocked, for which site, and what the site will ask for. */
export interface ConsentRequest {
  process: ProcessInfo;
  /** The session's web origin ("none": a session made without one, by a non-browser client). */
  origin: string;
  /** Instruction names the session carries (or a link asks for later). */
  instructions: readonly string[];
  /** Names of the keys `key` instructions would write. */
  keys: readonly string[];
  /** True when the link is already made and only further instructions are asked about. */
  afterLink?: boolean;
}

/** The question as shown: a title and a body, every part from outside escaped (see text.ts). */
export interface ConsentText {
  title: string;
  body: string;
}

/** A program that can put the question to the person at this desktop and wait for an answer. */
export interface ConsentDialog {
  name: string;
  /**
   * Asks and resolves with the answer; "deny" when the dialog closes without one or `timeoutMs` passes
   * (the dialog is closed then). Rejects with DialogUnavailableError when this desktop cannot show it.
   */
  ask(text: ConsentText, timeoutMs: number): Promise<ConsentAnswer>;
}

/** Button labels, the same on every desktop. */
export const LABELS = { once: "Allow once", always: "Always allow this site", deny: "Deny" } as const;
