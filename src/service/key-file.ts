// The service's key on disk: written only its user can read, and refused when anyone else could.
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { Value } from "@sinclair/typebox/value";
import { ConfigError, UnsafePathError } from "../lib/errors.ts";
import { trustedPath } from "../lib/trusted-path.ts";
import { EnrollAnswer } from "../protocol/enrollment.ts";
import type { ServiceCredentials } from "../protocol/signing.ts";
import { writeAtomically } from "../lib/atomic-file.ts";

/** The largest key file read: it holds an id and a key. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

/**
 * Writes credentials to `path` with mode 0600 (atomically: a crash never leaves half a key), into a
 * folder that it and every folder above belong to root or this user alone (writeAtomically checks).
 */
export function writeKeyFile(path: string, credentials: ServiceCredentials, server: string): void {
  try {
    writeAtomically(path, `${JSON.stringify({ ...credentials, server }, null, 2)}\n`);
  } catch (error) {
    if (error instanceof UnsafePathError)
      throw new ConfigError(`the key file ${path} was not written: ${error.message}`, { cause: error });
    throw error;
  }
}

/**
 * Throws the sentence writeKeyFile would, before anything is spent: an enrollment token is used up by the server
 * the moment it answers, so a key that could not then be written would leave a service enrolled with no key.
 */
export function checkKeyFileTarget(path: string): void {
  try {
    const folder = trustedPath(dirname(path), "folder", { create: true });
    const existing = lstatSync(join(folder, basename(path)), { throwIfNoEntry: false });
    if (existing && !existing.isFile())
      throw new UnsafePathError(`${path} exists and is not a regular file; it would not be replaced`);
  } catch (error) {
    if (error instanceof UnsafePathError)
      throw new ConfigError(`the key file ${path} would not be written: ${error.message}`, { cause: error });
    throw error;
  }
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
  if (!existsSync(path))
    throw new ConfigError(`no key file at ${path}: enroll first with pkipc service --enroll TOKEN`);
  // the key's own privacy first: its sentence says what to run
  const own = lstatSync(path);
  if (process.platform !== "win32" && own.isFile() && own.mode & 0o077) {
    throw new ConfigError(
      `the key file ${path} may be read by others (mode ${(own.mode & 0o777).toString(8)}); run chmod 600 ${path}`,
    );
  }
  let fd: number;
  try {
    // the folders above decide who could swap the key for theirs, as much as the file's own mode
    fd = openSync(trustedPath(path, "file"), constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (error) {
    if (error instanceof UnsafePathError)
      throw new ConfigError(`the key file ${path} is refused: ${error.message}`, { cause: error });
    throw new ConfigError(`the key file ${path} cannot be read`, { cause: error });
  }
  let text: string;
  try {
    const info = fstatSync(fd);
    const mode = info.mode & 0o777;
    // Windows has no mode bits (every file reads 0666): its ACLs decide, and a user's profile folder is
    // private to that user by default. So the check is POSIX's only.
    if (process.platform !== "win32" && mode & 0o077)
      throw new ConfigError(
        `the key file ${path} may be read by others (mode ${mode.toString(8)}); run chmod 600 ${path}`,
      );
    if (typeof process.getuid === "function" && info.uid !== process.getuid()) {
      throw new ConfigError(`the key file ${path} belongs to another user (uid ${info.uid})`);
    }
    if (info.size > MAX_KEY_FILE_BYTES)
      throw new ConfigError(`the key file ${path} is larger than ${MAX_KEY_FILE_BYTES} bytes`);
    const bytes = Buffer.alloc(info.size);
    text = bytes.toString("utf8", 0, readSync(fd, bytes, 0, info.size, 0));
  } finally {
    closeSync(fd);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`the key file ${path} is not valid JSON`, { cause: error });
  }
  const { serviceId, key, server } = (data ?? {}) as Record<string, unknown>;
  const credentials = { serviceId, key };
  if (!Value.Check(EnrollAnswer, credentials))
    throw new ConfigError(`the key file ${path} does not hold a service id and key`);
  return { credentials, ...(typeof server === "string" && server.length <= 2048 ? { server } : {}) };
}
