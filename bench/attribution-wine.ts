// The Windows attributor's per-knock latency, measured under Wine on this Linux machine: NOT a Windows number.
// Run: node_modules/.bin/bun bench/attribution-wine.ts [BACKGROUND_PROCESSES=30] [CONNECTIONS=0] [BURSTS=20]
// Builds the Windows binary, then runs bench/wine/attribution-inside.ts with its runtime (BUN_BE_BUN=1) in the
// repository's Wine prefix (scripts/wine-run.sh), and stops that prefix's wineserver at the end.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { compile, ROOT } from "../scripts/compile.ts";

const wineserver = ["/usr/lib/wine/wineserver", Bun.which("wineserver") ?? ""].find((p) => p && existsSync(p));
if (!wineserver) {
  console.error("this benchmark needs Wine: apt-get install wine64 gcc-mingw-w64-x86-64-win32");
  process.exit(1);
}
const exe = join(ROOT, "dist", "wine", "pkipc.exe");
await compile(exe, "bun-windows-x64");
console.log(
  "under Wine 8 on Linux: these are not Windows numbers (Wine's sockets and process calls go through wineserver)",
);
const child = Bun.spawn(
  [join(ROOT, "scripts/wine-run.sh"), exe, join(ROOT, "bench/wine/attribution-inside.ts"), ...process.argv.slice(2)],
  {
    cwd: ROOT,
    env: { ...process.env, BUN_BE_BUN: "1" },
    stdout: "inherit",
    stderr: "pipe",
  },
);
// Bun under Wine prints a harmless "Internal error: directory mismatch" line per folder it loads: drop those
void (async () => {
  let rest = "";
  const reader = child.stderr.getReader();
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    const lines = (rest + new TextDecoder().decode(read.value)).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) if (!line.includes("directory mismatch")) console.error(line);
  }
})();
const stop = () => Bun.spawnSync([wineserver, "-k"], { env: { ...process.env, WINEPREFIX: join(ROOT, ".wine") } });
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.on(signal, () => (child.kill(), stop(), process.exit(130)));
const code = await child.exited;
stop();
process.exit(code);
