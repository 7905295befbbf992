// Picks the autostart backend of the platform: systemd user unit, LaunchAgent, or the Windows Run key.
import { UnsupportedPlatformError } from "../../lib/errors.ts";
import { launchdAutostart } from "./launchd.ts";
import { systemdAutostart } from "./systemd.ts";
import type { Autostart, AutostartContext } from "./types.ts";
import { windowsAutostart } from "./windows.ts";

export type { Autostart, AutostartContext, AutostartEntry, AutostartPlan, AutostartStatus } from "./types.ts";

/** The backend for `platform`; Windows also needs the program (its image name) and this process's pid. */
export function createAutostart(
  platform: NodeJS.Platform,
  context: AutostartContext & { program: string; selfPid: number },
): Autostart {
  if (platform === "linux") return systemdAutostart(context);
  if (platform === "darwin") return launchdAutostart(context);
  if (platform === "win32") return windowsAutostart(context);
  throw new UnsupportedPlatformError(`pkipc service install supports Linux, macOS and Windows, not ${platform}`);
}
