// What an endless answer costs the service: `pkipc service` (the compiled binary) against a server whose
// config reads and pulls never end; its RSS (VmRSS) before, at most while it lasts, and after, sampled every 100 ms.
import { join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { findFreeRange } from "../src/lib/ports.ts";
import { writeKeyFile } from "../src/service/key-file.ts";
import { watchLines } from "../test/lines.ts";
import { configFor, rssMiB, startHostileSaas } from "../test/fixtures/hostile-saas.ts";
import { spawnBinary, stopAll } from "./fixtures.ts";

/** How long the endless answers last, in ms. */
const ENDLESS_MS = Number(process.env.BENCH_MEASURE_MS ?? 15_000);

const saas = startHostileSaas();
const folder = mkdtempSync(join(tmpdir(), "pkipc-bench-"));
try {
  const range = findFreeRange(64);
  saas.config = { json: configFor(range) };
  const keyFile = join(folder, "key.json");
  writeKeyFile(keyFile, { serviceId: "bench-hostile-saas", key: "A".repeat(43) }, saas.url);
  const uid = String(process.getuid?.() ?? 0);
  const child = spawnBinary([
    "service",
    "--server",
    saas.url,
    "--key-file",
    keyFile,
    "--allow-processes",
    "bun",
    "--users",
    uid,
    "--config-refresh",
    "300ms",
  ]);
  const log = watchLines(child.stderr);
  await log.waitFor(/holding 64 of 64 ports/, 20_000);
  await Bun.sleep(500);
  const before = rssMiB(child.pid)!;

  saas.config = "endless";
  saas.pull = "endless";
  // One knock from this process (bun, allowed) links, so the service goes on to pull the link's instructions.
  const knock = await Bun.connect({ hostname: "127.0.0.1", port: range.start, socket: { data() {} } });
  let peak = 0;
  const end = Date.now() + ENDLESS_MS;
  while (Date.now() < end) {
    peak = Math.max(peak, rssMiB(child.pid) ?? 0);
    await Bun.sleep(100);
  }
  knock.end();
  const after = rssMiB(child.pid)!;
  const refusals = log.lines.filter((l) => l.includes("answered more than")).length;
  console.log(
    `service RSS: ${before.toFixed(1)} MiB before, ${peak.toFixed(1)} MiB at most during ${ENDLESS_MS / 1000} s of endless answers, ${after.toFixed(1)} MiB after`,
  );
  console.log(
    `endless bodies: ${(saas.endlessBytes / 2 ** 20).toFixed(1)} MiB handed to the sockets, ${saas.cancelled} dropped by the reader; ` +
      `${saas.seen["GET /v1/config"] ?? 0} config reads, ${saas.seen["GET /v1/links/ID/instructions"] ?? 0} pulls, ${refusals} refusals logged; ` +
      `service ${child.exitCode === null ? "still running" : `exited ${child.exitCode}`}`,
  );
} finally {
  saas.stop();
  await stopAll();
  rmSync(folder, { recursive: true, force: true });
}
