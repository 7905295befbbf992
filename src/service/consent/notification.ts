// Linux and other freedesktop desktops: a notification with actions (org.freedesktop.Notifications over D-Bus).
import { DialogUnavailableError } from "../../lib/errors.ts";
import { runDialog } from "./run.ts";
import { escapeMarkup } from "./text.ts";
import { type ConsentAnswer, type ConsentDialog, type ConsentText, LABELS } from "./types.ts";

const HINT =
  "install libnotify-bin (notify-send) and run a notification server, e.g. apt-get install libnotify-bin dunst";
const BUS = ["--session", "--dest", "org.freedesktop.Notifications", "--object-path", "/org/freedesktop/Notifications"];

/**
 * notify-send's command: Notify with three actions, waiting for ActionInvoked or NotificationClosed.
 * Why notify-send and not `gdbus call`: the server sends those signals to the connection that called
 * Notify (measured with dunst: destination=:1.N), so one process must both call and listen; `gdbus call`
 * exits at once and a separate `gdbus monitor` never sees them. No action is the default one: a stray
 * click on the notification must not allow anything. The server closes it at `timeoutMs`.
 */
export function notifyCommand(text: ConsentText, timeoutMs: number): string[] {
  return [
    "notify-send",
    "--app-name=pkipc",
    "--urgency=critical",
    "--print-id",
    `--expire-time=${timeoutMs}`,
    `--action=once=${LABELS.once}`,
    `--action=always=${LABELS.always}`,
    `--action=deny=${LABELS.deny}`,
    "--",
    text.title,
    escapeMarkup(text.body),
  ];
}

/** notify-send prints the notification's id, then the action's name if one was invoked: anything else is deny. */
export function notifyAnswer(stdout: string): ConsentAnswer {
  const action = stdout.trim().split("\n").slice(1).join("").trim();
  return action === "once" || action === "always" ? action : "deny";
}

/** True when the session's notification server can show actions (GetCapabilities lists "actions"). */
async function serverHasActions(): Promise<boolean> {
  const run = await runDialog(
    ["gdbus", "call", ...BUS, "--method", "org.freedesktop.Notifications.GetCapabilities"],
    5000,
    HINT,
  );
  return run.exitCode === 0 && /'actions'/.test(run.stdout);
}

/** Asks through the desktop's notification server; DialogUnavailableError when there is none with actions. */
export const notificationDialog: ConsentDialog = {
  name: "notification",
  async ask(text, timeoutMs) {
    if (!(await serverHasActions()))
      throw new DialogUnavailableError(`no notification server with actions on the session bus: ${HINT}`);
    // A little past the server's own expiry: the server closes it first, and this kill is the backstop.
    const run = await runDialog(notifyCommand(text, timeoutMs), timeoutMs + 2000, HINT);
    const id = run.stdout.trim().split("\n")[0]?.trim() ?? "";
    if (run.exitCode === null && /^\d+$/.test(id)) {
      await runDialog(
        ["gdbus", "call", ...BUS, "--method", "org.freedesktop.Notifications.CloseNotification", id],
        5000,
        HINT,
      ).catch(() => {});
    }
    if (run.exitCode !== 0 && run.exitCode !== null && !/^\d+$/.test(id)) {
      throw new DialogUnavailableError(
        `notify-send failed (${run.stderr.trim().slice(0, 200) || `exit ${run.exitCode}`}): ${HINT}`,
      );
    }
    return notifyAnswer(run.stdout);
  },
};
