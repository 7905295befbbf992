// The audit file: one JSON line per instruction carried out (or refused), bounded by rotation.
import { closeSync, constants, fstatSync, lstatSync, openSync, renameSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Logger } from "../lib/log.ts";
import { trustedPath } from "../lib/trusted-path.ts";

/** One instruction as the audit file records it: who asked, what ran, how it ended. Never its arguments or result. */
export interface AuditEntry {
  time: string;
  instruction: string;
  id: string;
  ok: boolean;
  ms: number;
  origin?: string;
  linkId: string;
  pid: number;
  process: string;
  uid: number;
  user?: string;
}

/** Size at which the file is rotated: the current one becomes FILE.1 (the older .1 is dropped). Default 1 MiB. */
export const AUDIT_MAX_BYTES = 1 << 20;

export interface AuditLog {
  readonly path: string;
  record(entry: AuditEntry): void;
}

/**
 * Appends to `path` (mode 0600, folder 0700). At most 2 x maxBytes stay on disk: the file and one rotated
 * copy. A write that fails is logged, never thrown: an instruction already carried out is not undone.
 */
export function createAuditLog(path: string, log: Logger, maxBytes = AUDIT_MAX_BYTES): AuditLog {
  let warned = false;
  return {
    path,
    record(entry) {
      const line = `${JSON.stringify(entry)}\n`;
      try {
        // The state folder is checked before each write like every folder the service writes in (it may run
        // as root): a link planted at the file or its rotated copy would take the lines, or the rename, elsewhere.
        const file = join(trustedPath(dirname(path), "folder", { create: true }), basename(path));
        const size = regularSize(file);
        if (size > 0 && size + line.length > maxBytes) {
          regularSize(`${file}.1`);
          renameSync(file, `${file}.1`);
        }
        const fd = openSync(
          file,
          constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0),
          0o600,
        );
        try {
          if (!fstatSync(fd).isFile()) throw new Error(`${file} is not a regular file`);
          writeSync(fd, line);
        } finally {
          closeSync(fd);
        }
      } catch (error) {
        if (!warned) log.warn(`could not write the audit file ${path}: ${(error as Error).message}`);
        warned = true;
      }
    },
  };
}

/** The size of the regular file at `path` (0 when there is none); anything else there (a link, a folder) throws. */
function regularSize(path: string): number {
  try {
    const info = lstatSync(path);
    if (!info.isFile()) throw new Error(`${path} is not a regular file; it is left alone`);
    return info.size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw error;
  }
}
