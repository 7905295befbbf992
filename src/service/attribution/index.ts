// Picks the attribution strategy and the browser identifier of the platform the service runs on.
import { UnsupportedPlatformError } from "../../lib/errors.ts";
import { darwinAttributor } from "./darwin/attributor.ts";
import { darwinBrowserIdentifier } from "./darwin/identity.ts";
import { linuxAttributor } from "./linux/attributor.ts";
import { browserIdentifier } from "./linux/identity.ts";
import type { Attributor, BrowserIdentifier } from "./types.ts";
import { windowsAttributor } from "./windows/attributor.ts";
import { windowsBrowserIdentifier } from "./windows/identity.ts";

export type { Attributor, BrowserIdentifier, KnockSocket, ProcessInfo } from "./types.ts";

/**
 * The attributor for `platform` (default: this one). The Windows one loads no DLL until its first
 * knock, so it can be created anywhere.
 * @throws UnsupportedPlatformError on anything but Linux, macOS and Windows.
 */
export function createAttributor(platform: NodeJS.Platform = process.platform): Attributor {
  if (platform === "linux") return linuxAttributor();
  if (platform === "darwin") return darwinAttributor();
  if (platform === "win32") return windowsAttributor();
  throw new UnsupportedPlatformError(
    `Knock attribution is implemented for Linux, macOS and Windows, not for ${platform}.`,
  );
}

/** The browser identifier for `platform` (default: this one); one that adds nothing elsewhere. */
export function createBrowserIdentifier(platform: NodeJS.Platform = process.platform): BrowserIdentifier {
  if (platform === "linux") return browserIdentifier();
  if (platform === "darwin") return darwinBrowserIdentifier();
  if (platform === "win32") return windowsBrowserIdentifier();
  return { warm() {}, identify: async (p) => p };
}
