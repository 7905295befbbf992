// Where a service keeps what it writes about itself (audit log, running state): one folder per user.
import { join } from "node:path";

/**
 * The state folder of this user's service: $XDG_STATE_HOME/pkipc (~/.local/state/pkipc) on Linux and other
 * Unixes, ~/Library/Application Support/pkipc on macOS, %LOCALAPPDATA%\pkipc on Windows. It is created 0700
 * by whoever writes into it first.
 */
export function defaultStateDir(
  env: Record<string, string | undefined>,
  platform: NodeJS.Platform,
  home: string,
): string {
  if (platform === "win32") return join(env.LOCALAPPDATA || join(home, "AppData", "Local"), "pkipc");
  if (platform === "darwin") return join(home, "Library", "Application Support", "pkipc");
  return join(env.XDG_STATE_HOME || join(home, ".local", "state"), "pkipc");
}
