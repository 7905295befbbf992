// Built-in `key`: stores a secret the SaaS sends in a file of its own, in its origin's folder under the key folder, for the SaaS's local app to read.
import { createHash } from "node:crypto";
import { lstatSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { writeAtomically } from "../../lib/atomic-file.ts";
import { ConfigError, PkipcError, UnsafePathError } from "../../lib/errors.ts";
import { trustedPath } from "../../lib/trusted-path.ts";
import type { HandlerAnswer, InstructionHandler } from "./types.ts";

/** A key's file name: no path separators, no leading dot, no "..", at most 64 characters. */
export const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface KeyHandlerOptions {
  /** An absolute folder; created with mode 0700 when missing, refused when others may enter it or change a folder above it. */
  dir: string;
}

const refuse = (result: string): HandlerAnswer => ({ ok: false, result });

/** The first 16 hex digits of the secret's SHA-256: enough for the SaaS to check what arrived, useless to guess it. */
export function keyFingerprint(secret: string): string {
  return createHash("sha256").update(secret).digest("hex").slice(0, 16);
}

/** Longest origin folder name kept readable; a longer one is hashed (a file name holds at most 255 bytes). */
const MAX_READABLE_FOLDER = 200;

/**
 * The folder of an origin's keys, one name below the key folder: "https://saas.example:8443" becomes
 * "https_saas.example_8443". Reversible and unambiguous: "://" and ":" become "_"; every other
 * character outside a-z, 0-9, "." and "-" (an "_" and a "%" too) becomes %XX; an origin always starts
 * with its scheme, so the name is never "." or "..". A name longer than 200 characters is
 * "sha256-" and the origin's SHA-256 instead; a session without an origin stores under "no-origin".
 * Neither contains "_", so neither can be a readable name.
 */
export function originFolder(origin: string | undefined): string {
  if (!origin) return "no-origin";
  const at = origin.indexOf("://");
  const escape = (text: string) =>
    [...Buffer.from(text, "utf8")]
      .map((byte) => {
        const c = String.fromCharCode(byte);
        if (/[a-z0-9.-]/.test(c)) return c;
        if (c === ":") return "_";
        return `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
      })
      .join("");
  const name = at > 0 ? `${escape(origin.slice(0, at))}_${escape(origin.slice(at + 3))}` : escape(origin);
  return /^[a-z]/.test(name) && name.length <= MAX_READABLE_FOLDER
    ? name
    : `sha256-${createHash("sha256").update(origin).digest("hex")}`;
}

/**
 * Checks (or creates) the key folder: it and every folder above it pass trustedPath (root's or this
 * user's alone), it is no link, and no one else may enter it. Throws UnsafePathError or ConfigError.
 */
function checkKeyFolder(dir: string): string {
  if (!isAbsolute(dir)) throw new ConfigError(`the key folder must be an absolute path, not "${dir}"`);
  const real = trustedPath(dir, "folder", { create: true });
  const info = lstatSync(dir);
  if (!info.isDirectory())
    throw new ConfigError(`the key folder ${dir} is not a folder (a symbolic link is refused too)`);
  if (info.mode & 0o077)
    throw new ConfigError(
      `the key folder ${dir} may be entered by others (mode ${(info.mode & 0o777).toString(8)}); run chmod 700 ${dir}`,
    );
  if (typeof process.getuid === "function" && info.uid !== process.getuid())
    throw new ConfigError(`the key folder ${dir} belongs to another user (uid ${info.uid})`);
  return real;
}

/**
 * `key` with args `name` and `secret`: writes the secret to DIR/ORIGIN/name (ORIGIN from originFolder:
 * each SaaS its own folder, so one tenant never replaces another's key) with mode 0600, atomically (a
 * reader never sees half a key), replacing an earlier key of that name. Before every write the key
 * folder and the folders above it are checked again (a folder someone else could change is refused).
 * Answers JSON with the path relative to the key folder (where the service's user keeps files is no
 * business of the SaaS) and the fingerprint; the secret itself is never logged nor answered.
 */
export function keyHandler(options: KeyHandlerOptions): InstructionHandler {
  const { dir } = options;
  try {
    checkKeyFolder(dir);
  } catch (error) {
    if (error instanceof UnsafePathError)
      throw new ConfigError(`the key folder ${dir} is refused: ${error.message}`, { cause: error });
    throw error;
  }
  return {
    name: "key",
    async handle(instruction, { log, signal, origin }) {
      const { name, secret, ...rest } = instruction.args;
      const extra = Object.keys(rest);
      if (extra.length)
        return refuse(`key takes the args name and secret only, not ${extra.slice(0, 4).join(", ")}`.slice(0, 300));
      if (typeof name !== "string" || !KEY_NAME.test(name) || name.includes("..")) {
        return refuse(
          "the key's name must be 1-64 letters, digits, '.', '_' or '-', start with a letter or digit, and hold no '..'",
        );
      }
      if (typeof secret !== "string" || secret.length === 0) return refuse("the key's secret is missing or empty");
      if (signal.aborted) return refuse("the key was not written: the instruction was cancelled");
      const relative = `${originFolder(origin)}/${name}`;
      let real = dir;
      try {
        real = checkKeyFolder(dir);
        writeAtomically(join(real, relative), secret);
      } catch (error) {
        const why = error instanceof PkipcError ? error.message : `${(error as NodeJS.ErrnoException).code ?? "error"}`;
        log.warn("key not stored", { name, origin, error: why });
        // the answer names no folder outside the key folder: the full sentence is in the log
        const inside = why.startsWith(`${real}/`) ? why.slice(real.length + 1) : undefined;
        return refuse(
          `the key ${relative} was not written: ${inside ?? (error instanceof PkipcError ? "the key folder is not safe to write to (the service's log says why)" : why)}`,
        );
      }
      const fingerprint = keyFingerprint(secret);
      log.info("key stored", { name, origin, path: join(dir, relative), sha256: fingerprint });
      return { ok: true, result: JSON.stringify({ path: relative, sha256: fingerprint }) };
    },
  };
}
