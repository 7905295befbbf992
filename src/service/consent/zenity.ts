// A dialog program for X11/Wayland desktops without a notification server: zenity's question box.
import { DialogUnavailableError } from "../../lib/errors.ts";
import { runDialog } from "./run.ts";
import { type ConsentAnswer, type ConsentDialog, type ConsentText, LABELS } from "./types.ts";

const HINT = "install zenity (apt-get install zenity)";

/** zenity's command (Deny is the default button): OK allows once, the extra button allows always, Cancel (or closing, or the timeout) denies. */
export function zenityCommand(text: ConsentText, timeoutMs: number): string[] {
  return [
    "zenity",
    "--question",
    "--no-markup",
    "--width=460",
    `--title=${text.title}`,
    `--text=${text.body}`,
    `--ok-label=${LABELS.once}`,
    `--cancel-label=${LABELS.deny}`,
    `--extra-button=${LABELS.always}`,
    "--default-cancel", // Enter denies: a keystroke meant for another window must not allow anything
    `--timeout=${Math.max(1, Math.ceil(timeoutMs / 1000))}`,
  ];
}

/** Exit 0 is OK; the extra button exits 1 and prints its label; 1 alone is Cancel, 5 the timeout. */
export function zenityAnswer(exitCode: number | null, stdout: string): ConsentAnswer {
  if (exitCode === 0) return "once";
  if (exitCode === 1 && stdout.trim() === LABELS.always) return "always";
  return "deny";
}

export const zenityDialog: ConsentDialog = {
  name: "zenity",
  async ask(text, timeoutMs) {
    const run = await runDialog(zenityCommand(text, timeoutMs), timeoutMs + 2000, HINT);
    // zenity without a display exits at once with a GTK warning: a desktop it cannot use.
    if (run.exitCode !== null && run.exitCode > 1 && run.exitCode !== 5) {
      throw new DialogUnavailableError(
        `zenity could not ask (${run.stderr.trim().slice(0, 200) || `exit ${run.exitCode}`}): is a display set?`,
      );
    }
    return zenityAnswer(run.exitCode, run.stdout);
  },
};
