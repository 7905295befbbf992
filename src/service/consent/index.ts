// `--confirm desktop`: ask the person at this desktop before a site links (or asks for what they marked), with the desktop's own dialog.
import { ConfigError, DialogUnavailableError, describeError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/log.ts";
import type { ConfirmLink } from "../policy.ts";
import { macosDialog } from "./macos.ts";
import { notificationDialog } from "./notification.ts";
import { readRememberedOrigins, rememberOrigin } from "./origins.ts";
import { consentText } from "./text.ts";
import type { ConsentAnswer, ConsentDialog, ConsentRequest } from "./types.ts";
import { windowsDialog } from "./windows.ts";
import { zenityDialog } from "./zenity.ts";

export type { ConsentAnswer, ConsentDialog, ConsentRequest } from "./types.ts";

/** Every dialog by name, chosen explicitly (the compiled binary holds them all). */
export const DIALOGS: Record<string, ConsentDialog> = {
  notification: notificationDialog,
  zenity: zenityDialog,
  osascript: macosDialog,
  win32: windowsDialog,
};

/** The dialogs tried in order on `platform`: the first that can show one asks. */
export function dialogsFor(platform: NodeJS.Platform): ConsentDialog[] {
  if (platform === "darwin") return [macosDialog];
  if (platform === "win32") return [windowsDialog];
  return [notificationDialog, zenityDialog];
}

/**
 * `--confirm desktop` asks on the desktop of the user the service runs as, so it may serve only that user:
 * a root service with --users (or any service serving others) would put one user's question to another,
 * or to no one. Refused at start, and by `service install`, rather than asking on each knocking user's
 * session as root: that would mean finding their display and bus and running a dialog as them, and
 * keeping their "always allow" choices in root's files; one service per user (each installed by its
 * user) asks each on their own desktop and keeps their choices in their own state folder.
 * @param users the uids served (--users); undefined: only this one.
 * @param ownUid this process's uid; undefined where there are none (Windows: one service per user).
 * @throws ConfigError naming the other uids.
 */
export function requireOwnDesktop(users: readonly number[] | undefined, ownUid: number | undefined): void {
  if (ownUid === undefined || users === undefined) return;
  const others = users.filter((uid) => uid !== ownUid);
  if (others.length === 0) return;
  throw new ConfigError(
    `--confirm desktop asks on the desktop of the user this service runs as (uid ${ownUid}), but --users also serves uid ${others.join(", ")}: ` +
      "run one service per user instead (each user runs pkipc service install), or use --confirm log",
  );
}

export interface DesktopConsentOptions {
  /** Tried in order; the first that is available asks. */
  dialogs: readonly ConsentDialog[];
  /** The service's state folder, where "always allow" is remembered (see origins.ts). */
  stateDir: string;
  /** Instruction names that are asked about even for a remembered site. Default none. */
  askFor?: readonly string[];
  /** How long the question waits for an answer, in ms; then it counts as deny. Default 20,000. */
  timeoutMs?: number;
  log: Logger;
}

/**
 * The ConfirmLink of a desktop service. It asks when the site is not remembered, or when any
 * instruction carried is on `askFor` (at the link and for instructions queued after it); otherwise it
 * allows without asking. Questions go one at a time. No dialog available, or none answered, is deny.
 */
export function desktopConfirm(options: DesktopConsentOptions): ConfirmLink {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const askFor = new Set(options.askFor ?? []);
  let queue: Promise<unknown> = Promise.resolve();

  async function ask(request: ConsentRequest): Promise<ConsentAnswer> {
    const text = consentText(request);
    for (const dialog of options.dialogs) {
      try {
        const answer = await dialog.ask(text, timeoutMs);
        options.log.info(`the local user answered ${answer}`, {
          dialog: dialog.name,
          origin: request.origin,
          instructions: request.instructions.join(","),
        });
        return answer;
      } catch (error) {
        if (!(error instanceof DialogUnavailableError)) throw error;
        options.log.warn(`consent dialog ${dialog.name} unavailable: ${error.message}`);
      }
    }
    options.log.error("no consent dialog could be shown on this desktop: denied", { origin: request.origin });
    return "deny";
  }

  return async (process, _ports, origin, asked) => {
    const instructions = (asked?.instructions ?? []).map((i) => i.name);
    const keys = (asked?.instructions ?? []).filter((i) => i.name === "key" && i.args.name).map((i) => i.args.name!);
    const marked = instructions.some((name) => askFor.has(name));
    let remembered: boolean;
    try {
      remembered = readRememberedOrigins(options.stateDir).includes(origin);
    } catch (error) {
      options.log.warn(`remembered origins not read: ${describeError(error)}; asking`);
      remembered = false;
    }
    if (asked?.afterLink ? !marked : remembered && !marked) return "once";
    const request: ConsentRequest = {
      process,
      origin,
      instructions,
      keys,
      ...(asked?.afterLink ? { afterLink: true } : {}),
    };
    const answer = (queue = queue.then(
      () => ask(request),
      () => ask(request),
    )) as Promise<ConsentAnswer>;
    const given = await answer.catch((error: unknown) => {
      options.log.error(`consent dialog failed: ${describeError(error)}: denied`);
      return "deny" as const;
    });
    if (given === "always" && origin !== "none") {
      try {
        rememberOrigin(options.stateDir, origin);
      } catch (error) {
        options.log.warn(`could not remember ${origin}: ${describeError(error)}`);
      }
    }
    return given;
  };
}
