// Picks the attribution strategy and browser identifier of the platform the service runs on.
import { PkipcError } from "../../lib/errors.ts";
import { linuxAttributor } from "./linux/attributor.ts";
import { browserIdentifier } from "./linux/identity.ts";
import type { Attributor, BrowserIdentifier } from "./types.ts";
import { windowsAttributor } from "./windows/attributor.ts";
import { windowsBrowserIdentifier } from "./windows/identity.ts";

export type { Attributor, BrowserIdentifier, KnockSocket, ProcessInfo } from "./types.ts";

/** The service cannot find knocking processes on this operating system. */
export class UnsupportedPlatformError extends PkipcError {
  override readonly code = "UNSUPPORTED_PLATFORM";
}

/**
 * The attributor for `platform` (default: this one). Nothing is loaded until the first knock, so any
 * platform's attributor can be created anywhere.
 * @throws UnsupportedPlatformError on anything but Linux and Windows.
 */
export function createAttributor(platform: NodeJS.Platform = process.platform): Attributor {
  if (platform === "linux") return linuxAttributor();
  if (platform === "win32") return windowsAttributor();
  throw new UnsupportedPlatformError(
    `Knock attribution is implemented for Linux and Windows only, not for ${platform}.`,
  );
}

/** The browser identifier for `platform` (default: this one); other platforms get the Linux one, which finds nothing it cannot read. */
export function createBrowserIdentifier(platform: NodeJS.Platform = process.platform): BrowserIdentifier {
  return platform === "win32" ? windowsBrowserIdentifier() : browserIdentifier();
}
