#!/usr/bin/env node
// The package's `pkipc` command: runs the compiled binary (dist/pkipc, written by `npm run build` in a checkout), which the npm package does not ship (118 MB); without it, says how to get one.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const binary = join(root, "dist", process.platform === "win32" ? "pkipc.exe" : "pkipc");
if (!existsSync(binary)) {
  console.error(
    `pkipc: the pkipc binary is not here (${binary}): the npm package holds the library only. ` +
      "Download a release binary (pkipc-linux-x64, pkipc-darwin-arm64, pkipc-windows-x64.exe, ...) and run it, " +
      "or build one in a checkout of pkipc with `npm install && npm run build`.",
  );
  process.exit(1);
}
// The binary gets the terminal as it is; its exit status (or the signal that ended it) becomes ours.
const run = spawnSync(binary, process.argv.slice(2), { stdio: "inherit" });
if (run.error) {
  console.error(`pkipc: could not run ${binary}: ${run.error.message}`);
  process.exit(1);
}
if (run.signal) process.kill(process.pid, run.signal);
process.exit(run.status ?? 1);
