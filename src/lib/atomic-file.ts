// Writing secrets to disk: only into folders no one else can change, private from the first byte, never through a link, and a rename so a crash never leaves half a file.
import { closeSync, constants, fchmodSync, lstatSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { UnsafePathError } from "./errors.ts";
import { trustedPath } from "./trusted-path.ts";

/**
 * Writes `text` to `path` with `mode` (default 0600), atomically, and returns the real path written.
 * Before the write, the folder (made 0700 where missing) and every folder above it must pass
 * trustedPath; what sits at `path` now must be a regular file or nothing (a link there is refused, not
 * followed or replaced). The temporary file is created with O_EXCL and O_NOFOLLOW in that checked
 * folder, so no one else can slip a link or a file in between. Throws UnsafePathError naming the path.
 */
export function writeAtomically(path: string, text: string, mode = 0o600): string {
  const folder = trustedPath(dirname(path), "folder", { create: true });
  const target = join(folder, basename(path));
  const existing = lstatSync(target, { throwIfNoEntry: false });
  if (existing && !existing.isFile())
    throw new UnsafePathError(`${target} exists and is not a regular file; it was not replaced`);
  const suffix = Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString("hex");
  const temporary = `${target}.${process.pid}.${suffix}.tmp`;
  const fd = openSync(
    temporary,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0),
    0o600,
  );
  try {
    fchmodSync(fd, mode); // an umask cannot widen 0600, but be explicit: the file may hold keys
    const bytes = Buffer.from(text, "utf8");
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temporary);
    throw error;
  }
  closeSync(fd);
  renameSync(temporary, target);
  return target;
}
