// What the trusted-path check adds before every handler run and key write: one check of a program 6 folders deep (one link on the way), and one checked key write.
// Run: node_modules/.bin/bun bench/trusted-path.ts [ROUNDS=20000]
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeAtomically } from "../src/lib/atomic-file.ts";
import { trustedPath } from "../src/lib/trusted-path.ts";

const rounds = Number(process.argv[2] ?? 20_000);
const base = mkdtempSync(join(tmpdir(), "pkipc-bench-trusted-"));
try {
  const deep = join(base, "a", "b", "c", "d");
  mkdirSync(deep, { recursive: true });
  const program = join(deep, "tool");
  writeFileSync(program, "#!/bin/sh\n");
  chmodSync(program, 0o755);
  symlinkSync(join(base, "a"), join(base, "link"));
  const linked = join(base, "link", "b", "c", "d", "tool");

  const time = (label: string, fn: () => unknown, n: number) => {
    for (let i = 0; i < Math.min(n, 1000); i++) fn(); // warm up
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      const start = Bun.nanoseconds();
      fn();
      samples.push(Bun.nanoseconds() - start);
    }
    samples.sort((x, y) => x - y);
    const at = (q: number) => (samples[Math.floor(q * (samples.length - 1))]! / 1000).toFixed(1);
    console.log(`${label}: median ${at(0.5)} µs, p99 ${at(0.99)} µs (${n} rounds)`);
  };
  time(`trustedPath(${program.split("/").length - 1} names deep)`, () => trustedPath(program, "file"), rounds);
  time("trustedPath through a link", () => trustedPath(linked, "file"), rounds);
  const keys = join(base, "keys", "https_saas.example");
  time(
    "writeAtomically(key) with the check",
    () => writeAtomically(join(keys, "api"), "secret"),
    Math.min(rounds, 5000),
  );
} finally {
  rmSync(base, { recursive: true, force: true });
}
