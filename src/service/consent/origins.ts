// Origins the local user chose "Always allow this site" for: one file per user in the service's state folder.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeAtomically } from "../../lib/atomic-file.ts";
import { ConfigError, UnsafePathError } from "../../lib/errors.ts";
import { trustedPath } from "../../lib/trusted-path.ts";

export const ORIGINS_FILE = "allowed-origins.json";
/** Most origins remembered: a user does not allow hundreds of sites, and the file stays small. */
export const MAX_REMEMBERED = 256;
const MAX_BYTES = 64 * 1024;

export const originsPath = (stateDir: string) => join(stateDir, ORIGINS_FILE);

/**
 * The remembered origins. The file decides what links without asking, so one that others could have
 * written (or that is not a JSON list of strings) is refused with ConfigError, never half-trusted.
 */
export function readRememberedOrigins(stateDir: string): string[] {
  const path = originsPath(stateDir);
  if (!existsSync(path)) return [];
  try {
    const text = readFileSync(trustedPath(path, "file"), "utf8");
    if (text.length > MAX_BYTES) throw new ConfigError(`${path} is larger than ${MAX_BYTES} bytes`);
    const list = JSON.parse(text) as unknown;
    if (!Array.isArray(list) || !list.every((o) => typeof o === "string"))
      throw new ConfigError(`${path} is not a JSON list of origins`);
    return list.slice(0, MAX_REMEMBERED);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    if (error instanceof UnsafePathError)
      throw new ConfigError(`the allowed origins file ${path} is refused: ${error.message}`, { cause: error });
    throw new ConfigError(`could not read ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** Adds `origin` (kept once; the oldest goes past MAX_REMEMBERED). */
export function rememberOrigin(stateDir: string, origin: string): void {
  const list = readRememberedOrigins(stateDir).filter((o) => o !== origin);
  list.push(origin);
  writeAtomically(originsPath(stateDir), `${JSON.stringify(list.slice(-MAX_REMEMBERED), null, 2)}\n`);
}

/** Removes `origin`; false when it was not remembered. */
export function revokeOrigin(stateDir: string, origin: string): boolean {
  const list = readRememberedOrigins(stateDir);
  const kept = list.filter((o) => o !== origin.replace(/\/$/, ""));
  if (kept.length === list.length) return false;
  writeAtomically(originsPath(stateDir), `${JSON.stringify(kept, null, 2)}\n`);
  return true;
}
