// Built-in `key`: stores a secret the SaaS sends in a file of its own under the key folder, for the SaaS's local app to read.
import { createHash } from "node:crypto";
import { lstatSync, mkdirSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { writeAtomically } from "../../lib/atomic-file.ts";
import { ConfigError } from "../../lib/errors.ts";
import type { HandlerAnswer, InstructionHandler } from "./index.ts";

/** A key's file name: no path separators, no leading dot, no "..", at most 64 characters. */
export const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface KeyHandlerOptions {
  /** An absolute folder; created with mode 0700 when missing, refused when others may enter it. */
  dir: string;
}

const refuse = (result: string): HandlerAnswer => ({ ok: false, result });

/** The first 16 hex digits of the secret's SHA-256: enough for the SaaS to check what arrived, useless to guess it. */
export function keyFingerprint(secret: string): string {
  return createHash("sha256").update(secret).digest("hex").slice(0, 16);
}

/** Checks (or creates) the key folder: a real folder of this user that no one else can enter. */
function keyFolder(dir: string): string {
  if (!isAbsolute(dir)) throw new ConfigError(`the key folder must be an absolute path, not "${dir}"`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const info = lstatSync(dir);
  if (!info.isDirectory()) throw new ConfigError(`the key folder ${dir} is not a folder (a symbolic link is refused too)`);
  if (info.mode & 0o077) throw new ConfigError(`the key folder ${dir} may be entered by others (mode ${(info.mode & 0o777).toString(8)}); run chmod 700 ${dir}`);
  if (typeof process.getuid === "function" && info.uid !== process.getuid()) throw new ConfigError(`the key folder ${dir} belongs to another user (uid ${info.uid})`);
  return dir;
}

/**
 * `key` with args `name` and `secret`: writes the secret to DIR/name with mode 0600, atomically (a
 * reader never sees half a key), replacing an earlier key of that name. Answers JSON with the path and
 * the fingerprint; the secret itself is never logged nor answered.
 */
export function keyHandler(options: KeyHandlerOptions): InstructionHandler {
  const dir = keyFolder(options.dir);
  return {
    name: "key",
    async handle(instruction, { log, signal }) {
      const { name, secret, ...rest } = instruction.args;
      const extra = Object.keys(rest);
      if (extra.length) return refuse(`key takes the args name and secret only, not ${extra.slice(0, 4).join(", ")}`.slice(0, 300));
      if (typeof name !== "string" || !KEY_NAME.test(name) || name.includes("..")) {
        return refuse("the key's name must be 1-64 letters, digits, '.', '_' or '-', start with a letter or digit, and hold no '..'");
      }
      if (typeof secret !== "string" || secret.length === 0) return refuse("the key's secret is missing or empty");
      if (signal.aborted) return refuse("the key was not written: the instruction was cancelled");
      const path = join(dir, name);
      try {
        // rename() replaces a symbolic link rather than following it; refusing one still says what happened.
        const existing = lstatSync(path, { throwIfNoEntry: false });
        if (existing && !existing.isFile()) return refuse(`${path} exists and is not a regular file; it was not replaced`);
        writeAtomically(path, secret);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? "error";
        log.warn("key not stored", { name, error: code });
        return refuse(`the key could not be written to ${path} (${code})`);
      }
      const fingerprint = keyFingerprint(secret);
      log.info("key stored", { name, path, sha256: fingerprint });
      return { ok: true, result: JSON.stringify({ path, sha256: fingerprint }) };
    },
  };
}
