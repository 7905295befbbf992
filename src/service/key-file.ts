// The service's key on disk: written only its user can read, and refused when anyone else could.
import { existsSync, readFileSync, statSync } from "node:fs";
import { Value } from "@sinclair/typebox/value";
import { ConfigError } from "../lib/errors.ts";
import { EnrollAnswer } from "../protocol/enrollment.ts";
import type { ServiceCredentials } from "../protocol/signing.ts";
import { writeAtomically } from "../lib/atomic-file.ts";

/** Writes credentials to `path` with mode 0600 (atomically: a crash never leaves half a key). */
export function writeKeyFile(path: string, credentials: ServiceCredentials, server: string): void {
  writeAtomically(path, `${JSON.stringify({ ...credentials, server }, null, 2)}\n`);
}

/**
 * Reads credentials from `path`. Refuses a file that its group or others may read or write, or that
 * another user owns: such a key may already be someone else's, like ssh does with private keys.
 */
export function readKeyFile(path: string): ServiceCredentials {
  return readEnrollment(path).credentials;
}

/** The key file's credentials and the server it was enrolled with (absent in files written before it was recorded). */
export function readEnrollment(path: string): { credentials: ServiceCredentials; server?: string } {
  if (!existsSync(path)) throw new ConfigError(`no key file at ${path}: enroll first with pkipc service --enroll TOKEN`);
  const info = statSync(path);
  const mode = info.mode & 0o777;
  // Windows has no mode bits (every file reads 0666): its ACLs decide, and a user's profile folder is
  // private to that user by default. So the check is POSIX's only.
  if (process.platform !== "win32" && mode & 0o077) throw new ConfigError(`the key file ${path} may be read by others (mode ${mode.toString(8)}); run chmod 600 ${path}`);
  if (typeof process.getuid === "function" && info.uid !== process.getuid()) {
    throw new ConfigError(`the key file ${path} belongs to another user (uid ${info.uid})`);
  }
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ConfigError(`the key file ${path} is not valid JSON`, { cause: error });
  }
  const { serviceId, key, server } = (data ?? {}) as Record<string, unknown>;
  const credentials = { serviceId, key };
  if (!Value.Check(EnrollAnswer, credentials)) throw new ConfigError(`the key file ${path} does not hold a service id and key`);
  return { credentials, ...(typeof server === "string" && server.length <= 2048 ? { server } : {}) };
}
