// Which local processes may link a session, and the local user's say on each link.
import { basename } from "node:path";
import type { Instruction, ProcessInfo } from "../protocol/schemas.ts";

/**
 * Process names of browsers (the executable's file name or the kernel's 15-character comm name).
 * Only these may link by default: a knock from any other program is most likely not a person at a page.
 */
export const DEFAULT_BROWSERS: readonly string[] = [
  "chromium",
  "chromium-browser",
  "chrome",
  "google-chrome",
  "chrome.exe",
  "msedge",
  "msedge.exe",
  "brave",
  "brave-browser",
  "brave.exe",
  "opera",
  "vivaldi",
  "vivaldi-bin",
  "firefox",
  "firefox-esr",
  "firefox-bin",
  "firefox.exe",
  "librewolf",
  "epiphany",
  // WebKit knocks from its network process, whatever the application (MiniBrowser, Epiphany, Safari).
  // Linux (WebKitGTK): exe .../webkit2gtk-4.1/WebKitNetworkProcess, comm cut to 15 characters. macOS:
  // exe .../com.apple.WebKit.Networking.xpc/Contents/MacOS/com.apple.WebKit.Networking; its 16-character
  // p_comm "com.apple.WebKit" is left out, as it names WebKit's content and GPU processes too.
  "WebKitNetworkProcess",
  "WebKitNetworkPr",
  "com.apple.WebKit.Networking",
  "Safari",
  // macOS app executables (the knocking helper's browser is the app's main executable)
  "Google Chrome",
  "Chromium",
  "Microsoft Edge",
  "Brave Browser",
];

/** True when the process's name or executable file name is on `allowed`. */
export function processAllowed(process: ProcessInfo, allowed: readonly string[]): boolean {
  // The knocking process, or the browser it belongs to (Chromium knocks from a helper process).
  const names = new Set(
    [process.name, basename(process.exe), process.browser ? basename(process.browser.exe) : ""].filter(Boolean),
  );
  return allowed.some((name) => names.has(name));
}

/** What the session asks for: its instructions (a key's name but no secret), and whether the link is made already. */
export interface AskedFor {
  instructions: readonly Instruction[];
  /** Instructions queued after the link: asked about only when one is marked as needing consent. */
  afterLink?: boolean;
}

/**
 * Asked before a burst links, with the web origin of the session its knocks fit ("none" for a session
 * made without one): true, "once" or "always" lets it link that session; false or "deny" declines it,
 * and the server is told (the session ends as DECLINED). The CLI's `--confirm ask` prompts on the
 * terminal, `--confirm desktop` with the desktop's dialog (consent/index.ts); the default only logs each link.
 */
export type ConfirmLink = (
  process: ProcessInfo,
  ports: number,
  origin: string,
  asked?: AskedFor,
) => Promise<boolean | "once" | "always" | "deny">;

/** Whether a ConfirmLink's answer lets the link (or the instructions) go ahead. */
export const consented = (answer: boolean | "once" | "always" | "deny") =>
  answer === true || answer === "once" || answer === "always";
