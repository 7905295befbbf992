// Profiles: two products built on pkipc on one computer, each with its own service, key, state and autostart entry.
import { join } from "node:path";
import { ConfigError } from "../lib/errors.ts";

/** A profile's name: a product's short name, usable in file, unit and registry names alike. */
const PROFILE_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** Parses --profile: lower-case letters, digits and "-", 1 to 32, starting with a letter or digit. */
export function profileName(raw: string, name: string): string {
  if (!PROFILE_NAME.test(raw))
    throw new ConfigError(
      `${name} must be 1-32 lower-case letters, digits or "-" (a product's short name such as acme), not "${raw}"`,
    );
  return raw;
}

/** The default key file: ~/.config/pkipc/service-key.json, or ~/.config/pkipc/PROFILE/service-key.json. */
export const defaultKeyFile = (profile?: string) =>
  profile ? `~/.config/pkipc/${profile}/service-key.json` : "~/.config/pkipc/service-key.json";

/** The profile's state folder: a folder of its own below the default one (audit, service.json, allowed origins). */
export const profileStateDir = (stateDir: string, profile?: string) => (profile ? join(stateDir, profile) : stateDir);

/** The autostart entry's name part: "pkipc" alone, or "pkipc-PROFILE" (unit pkipc-acme.service, Run value pkipc-acme). */
export const autostartName = (profile?: string) => (profile ? `pkipc-${profile}` : "pkipc");
