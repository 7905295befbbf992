// `bun run bench`: runs every benchmark in this folder in turn, each in its own process, and prints its numbers.
import { readdirSync } from "node:fs";
import { join } from "node:path";

const only = process.argv.slice(2);
const files = readdirSync(import.meta.dir)
  .filter((f) => f.endsWith(".ts") && !["index.ts", "stats.ts", "fixtures.ts"].includes(f))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
let failed = 0;
for (const file of files) {
  console.log(`\n=== ${file}`);
  const child = Bun.spawn([process.execPath, join(import.meta.dir, file)], { stdout: "inherit", stderr: "inherit" });
  if ((await child.exited) !== 0) {
    failed++;
    console.log(`${file} failed (exit ${child.exitCode})`);
  }
}
process.exit(failed ? 1 : 0);
