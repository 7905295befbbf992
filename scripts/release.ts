// `npm run release`: one single-file binary per platform in dist/release/, and a SHA256SUMS that `sha256sum -c` accepts.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { compile, ROOT } from "./compile.ts";

/** What is released: bun's cross-compile target -> the file's name (the platform in it, .exe on Windows). */
export const RELEASE_TARGETS: Record<string, string> = {
  "bun-linux-x64": "pkipc-linux-x64",
  "bun-linux-arm64": "pkipc-linux-arm64",
  "bun-darwin-x64": "pkipc-darwin-x64",
  "bun-darwin-arm64": "pkipc-darwin-arm64",
  "bun-windows-x64": "pkipc-windows-x64.exe",
};

const out = process.argv[2] ?? join(ROOT, "dist", "release");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const sums: string[] = [];
// one at a time: each compile holds a ~100 MB runtime in memory
for (const [target, name] of Object.entries(RELEASE_TARGETS)) {
  const file = join(out, name);
  const started = performance.now();
  try {
    await compile(file, target);
  } catch (error) {
    const detail = (error as { stderr?: Buffer }).stderr?.toString().trim();
    console.error(`release: building ${name} (${target}) failed${detail ? `: ${detail}` : ""}`);
    process.exit(1);
  }
  const hash = createHash("sha256").update(readFileSync(file)).digest("hex");
  sums.push(`${hash}  ${name}`); // sha256sum's format: two spaces (text mode)
  const mb = (statSync(file).size / 2 ** 20).toFixed(1);
  console.log(`${name.padEnd(24)} ${mb.padStart(6)} MiB  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}
writeFileSync(join(out, "SHA256SUMS"), `${sums.join("\n")}\n`);
console.log(`wrote ${out}/SHA256SUMS; check with: cd ${out} && sha256sum -c SHA256SUMS`);
