// Benchmark: the CLI client's whole-process wall time (start-up, session, knocks, link) against `pkipc --version`.
// Both run as separate processes of the compiled binary, interleaved in pairs so load changes hit both alike.
import { readFileSync } from "node:fs";
import { benchServer, benchService, printRaised, spawnBinary, stopAll } from "./fixtures.ts";
import { percentile } from "./stats.ts";

const PAIRS = Number(process.env.BENCH_PAIRS ?? 30);
/** Target of issue 23: the client's whole run costs at most 1.3 times a run that only prints the version. */
const TARGET_RATIO = 1.3;
const DEADLINE_MS = 30_000;
const RAISED = "10000,10000";

/** Another build to measure in the same rounds (e.g. the previous commit's), against the same server and service. */
const BASELINE = process.env.BENCH_BASELINE;

/** Wall time of one process from spawn to exit, and whether it did what it should (exit 0, linked for the client). */
async function wall(
  args: string[],
  env: Record<string, string> = {},
  binary?: string,
): Promise<{ ms: number; ok: boolean; out: string }> {
  const start = performance.now();
  const child = binary
    ? Bun.spawn([binary, ...args], {
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1", ...env },
      })
    : spawnBinary(args, env);
  const timer = setTimeout(() => child.kill("SIGKILL"), DEADLINE_MS);
  try {
    const [out, , code] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    return { ms: performance.now() - start, ok: code === 0, out };
  } finally {
    clearTimeout(timer);
  }
}

const loadavg = () => readFileSync("/proc/loadavg", "utf8").trim();

try {
  const server = await benchServer({
    sessionRate: RAISED,
    apiKeySessionRate: RAISED,
    apiKeyCallRate: RAISED,
    serviceRequestRate: RAISED,
    serviceReportRate: RAISED,
    addressReportRate: RAISED,
  });
  const service = await benchService(server, { allowProcesses: "pkipc", processReportRate: RAISED });
  printRaised(server, service);
  console.log(`load before: ${loadavg()}`);
  const client = ["client", "--server", server.url, "--json", "--timeout", "10s"];
  // One of each first, unmeasured: the page cache holds the binary for every measured run.
  await wall(["--version"]);
  await wall(client, { PKIPC_API_KEY: server.apiKey });
  const version: number[] = [];
  const linked: number[] = [];
  const ratios: number[] = [];
  const baseline: number[] = [];
  let failures = 0;
  for (let i = 0; i < PAIRS; i++) {
    // Alternate which goes first, so neither always runs right after the other's exit.
    const runs =
      i % 2 === 0
        ? [await wall(["--version"]), await wall(client, { PKIPC_API_KEY: server.apiKey })]
        : [await wall(client, { PKIPC_API_KEY: server.apiKey }), await wall(["--version"])].reverse();
    const [v, c] = runs as [Awaited<ReturnType<typeof wall>>, Awaited<ReturnType<typeof wall>>];
    const ok = c.ok && (JSON.parse(c.out || "{}") as { linked?: boolean }).linked === true;
    if (!ok || !v.ok) {
      failures++;
      continue;
    }
    version.push(v.ms);
    linked.push(c.ms);
    ratios.push(c.ms / v.ms);
    if (BASELINE) {
      const bv = await wall(["--version"], {}, BASELINE);
      const bc = await wall(client, { PKIPC_API_KEY: server.apiKey }, BASELINE);
      if (bv.ok && bc.ok) baseline.push(bc.ms / bv.ms);
    }
  }
  const med = (values: number[]) => percentile(values, 50);
  console.log(`${PAIRS} interleaved pairs of whole processes (spawn to exit), compiled binary:`);
  console.log(`  pkipc --version: median ${med(version).toFixed(1)} ms, p95 ${percentile(version, 95).toFixed(1)} ms`);
  console.log(
    `  pkipc client (session, knocks, link confirmed): median ${med(linked).toFixed(1)} ms, p95 ${percentile(linked, 95).toFixed(1)} ms; not linked: ${failures}`,
  );
  const ratio = med(ratios);
  console.log(
    `  client / --version: median of pair ratios ${ratio.toFixed(2)}x (ratio of medians ${(med(linked) / med(version)).toFixed(2)}x)   [target: <= ${TARGET_RATIO}x; ${ratio <= TARGET_RATIO ? "met" : `missed by ${(ratio - TARGET_RATIO).toFixed(2)}x`}]`,
  );
  if (BASELINE)
    console.log(
      `  baseline ${BASELINE}, same rounds: median of pair ratios ${med(baseline).toFixed(2)}x (n=${baseline.length})`,
    );
  console.log(`load after: ${loadavg()}`);
} finally {
  await stopAll();
}
