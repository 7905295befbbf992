// The audit file: one JSON line per instruction carried out (or refused), bounded by rotation.
import { appendFileSync, chmodSync, mkdirSync, renameSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "../lib/log.ts";

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
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
        let size = 0;
        try {
          size = statSync(path).size;
        } catch {
          // not there yet
        }
        if (size > 0 && size + line.length > maxBytes) renameSync(path, `${path}.1`);
        appendFileSync(path, line, { mode: 0o600 });
        if (size === 0) chmodSync(path, 0o600);
      } catch (error) {
        if (!warned) log.warn(`could not write the audit file ${path}: ${(error as Error).message}`);
        warned = true;
      }
    },
  };
}
