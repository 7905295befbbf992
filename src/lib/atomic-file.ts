// Writing secrets to disk: private mode from the first byte, and a rename so a crash never leaves half a file.
import { chmodSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** Writes `text` to `path` with mode 0600 (its folder 0700 if created), atomically. */
export function writeAtomically(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const suffix = Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString("hex");
  const temporary = `${path}.${process.pid}.${suffix}.tmp`;
  writeFileSync(temporary, text, { mode: 0o600, flag: "wx" });
  chmodSync(temporary, 0o600); // an umask cannot widen 0600, but be explicit: the file holds keys
  renameSync(temporary, path);
}
