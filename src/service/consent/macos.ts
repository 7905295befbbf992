// macOS: a native dialog through osascript (`display dialog` with three buttons, given up after the timeout).
import { DialogUnavailableError } from "../../lib/errors.ts";
import { runDialog } from "./run.ts";
import { type ConsentAnswer, type ConsentDialog, type ConsentText, LABELS } from "./types.ts";

/** An AppleScript string literal: backslashes and quotes escaped, so the text cannot end the string. */
const appleString = (text: string) => `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

/** osascript's command. Deny is both the default and the cancel button: Return or Escape denies. */
export function macosCommand(text: ConsentText, timeoutMs: number): string[] {
  const buttons = `{${[LABELS.deny, LABELS.always, LABELS.once].map(appleString).join(", ")}}`;
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  return [
    "/usr/bin/osascript",
    "-e",
    `display dialog ${appleString(text.body)} with title ${appleString(text.title)} buttons ${buttons} default button ${appleString(LABELS.deny)} cancel button ${appleString(LABELS.deny)} with icon caution giving up after ${seconds}`,
  ];
}

/** osascript prints "button returned:NAME, gave up:BOOL"; cancel (Deny) exits 1 (error -128). */
export function macosAnswer(exitCode: number | null, stdout: string): ConsentAnswer {
  if (exitCode !== 0 || /gave up:true/.test(stdout)) return "deny";
  const button = /button returned:(.*?)(, gave up:|$)/.exec(stdout.trim())?.[1];
  if (button === LABELS.once) return "once";
  if (button === LABELS.always) return "always";
  return "deny";
}

export const macosDialog: ConsentDialog = {
  name: "osascript",
  async ask(text, timeoutMs) {
    const run = await runDialog(macosCommand(text, timeoutMs), timeoutMs + 5000, "osascript ships with macOS");
    // -128 is the user's cancel; any other error means no dialog could be shown (no GUI session).
    if (run.exitCode !== 0 && run.exitCode !== null && !/-128/.test(run.stderr)) {
      throw new DialogUnavailableError(`osascript could not ask: ${run.stderr.trim().slice(0, 200)}`);
    }
    return macosAnswer(run.exitCode, run.stdout);
  },
};
