// Picks the attribution strategy of the platform the service runs on.
import { PkipcError } from "../../lib/errors.ts";
import { linuxAttributor } from "./linux/attributor.ts";
import type { Attributor } from "./types.ts";

export type { Attributor, KnockSocket, ProcessInfo } from "./types.ts";

/** The service cannot find knocking processes on this operating system. */
export class UnsupportedPlatformError extends PkipcError {
  override readonly code = "UNSUPPORTED_PLATFORM";
}

/**
 * The attributor for `platform` (default: this one).
 * @throws UnsupportedPlatformError on anything but Linux.
 */
export function createAttributor(platform: NodeJS.Platform = process.platform): Attributor {
  if (platform === "linux") return linuxAttributor();
  throw new UnsupportedPlatformError(
    `Knock attribution is implemented for Linux only, not for ${platform}.`,
  );
}
