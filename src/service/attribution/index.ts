// Picks the attribution strategy and the browser identifier of the platform the service runs on.
import { PkipcError } from "../../lib/errors.ts";
import type { ProcessInfo } from "../../protocol/schemas.ts";
import { darwinAttributor } from "./darwin/attributor.ts";
import { darwinBrowserIdentifier } from "./darwin/identity.ts";
import { linuxAttributor } from "./linux/attributor.ts";
import { browserIdentifier } from "./linux/identity.ts";
import type { Attributor } from "./types.ts";

export type { Attributor, KnockSocket, ProcessInfo } from "./types.ts";

/** The service cannot find knocking processes on this operating system. */
export class UnsupportedPlatformError extends PkipcError {
  override readonly code = "UNSUPPORTED_PLATFORM";
}

/** Adds the browser (main process, name, version) to an attributed process; the service warms it as soon as a knock is attributed. */
export interface BrowserIdentifier {
  warm(process: ProcessInfo): void;
  identify(process: ProcessInfo): Promise<ProcessInfo>;
}

/**
 * The attributor for `platform` (default: this one).
 * @throws UnsupportedPlatformError on anything but Linux and macOS.
 */
export function createAttributor(platform: NodeJS.Platform = process.platform): Attributor {
  if (platform === "linux") return linuxAttributor();
  if (platform === "darwin") return darwinAttributor();
  throw new UnsupportedPlatformError(
    `Knock attribution is implemented for Linux and macOS, not for ${platform}.`,
  );
}

/** The browser identifier for `platform` (default: this one); one that adds nothing elsewhere. */
export function createBrowserIdentifier(platform: NodeJS.Platform = process.platform): BrowserIdentifier {
  if (platform === "linux") return browserIdentifier();
  if (platform === "darwin") return darwinBrowserIdentifier();
  return { warm() {}, identify: async (p) => p };
}
