// Benchmark: time to link with the CLI client over tcp, and many clients at once, with the compiled binary.
import { join } from "node:path";
import type { ClientResult } from "../src/client/index.ts";
import { findFreeRange } from "../src/lib/ports.ts";
import { watchLines } from "../test/lines.ts";
import { summary } from "./stats.ts";

const BINARY = join(import.meta.dir, "..", "dist", "pkipc");
const RUNS = Number(process.env.BENCH_RUNS ?? 200);
const CONCURRENT = Number(process.env.BENCH_CONCURRENT ?? 50);
const started: Bun.Subprocess[] = [];

function spawn(args: string[]) {
  const child = Bun.spawn([BINARY, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  started.push(child);
  return child;
}

async function client(url: string): Promise<{ result: ClientResult; pid: number; wallMs: number }> {
  const start = performance.now();
  const child = spawn(["client", "--server", url, "--json"]);
  const out = await new Response(child.stdout).text();
  await child.exited;
  return { result: JSON.parse(out) as ClientResult, pid: child.pid, wallMs: performance.now() - start };
}

try {
  const range = findFreeRange(64);
  const server = spawn(["server", "--listen", "127.0.0.1:0", "--range", `${range.start}-${range.end}`, "--max-sessions", "1000"]);
  const url = (await watchLines(server.stderr).waitFor(/listening on (http:\/\/\S+)/))[1]!;
  const service = spawn(["service", "--server", url]);
  await watchLines(service.stderr).waitFor(/holding \d+ of \d+ ports/);

  const link: number[] = [];
  const wall: number[] = [];
  let failures = 0;
  for (let i = 0; i < RUNS; i++) {
    const run = await client(url);
    if (run.result.linked && run.result.process?.pid === run.pid) link.push(run.result.timeToLinkMs!);
    else failures++;
    wall.push(run.wallMs);
  }
  console.log(`link over tcp, ${RUNS} sequential CLI clients (session request to confirmed link, inside the client):`);
  console.log(`  ${summary(link)}; not linked: ${failures}   [target: median <= 15 ms, p95 <= 40 ms]`);
  console.log(`  client process wall time incl. start-up: ${summary(wall)}`);

  const runs = await Promise.all(Array.from({ length: CONCURRENT }, () => client(url)));
  const own = runs.filter((r) => r.result.linked && r.result.process?.pid === r.pid).length;
  const sessions = new Set(runs.map((r) => r.result.sessionId)).size;
  console.log(`${CONCURRENT} CLI clients at once: ${own} of ${CONCURRENT} linked to their own session (${sessions} distinct sessions)   [target: ${CONCURRENT} of ${CONCURRENT}]`);
  console.log(`  time to link under that load: ${summary(runs.filter((r) => r.result.linked).map((r) => r.result.timeToLinkMs!))}`);
} finally {
  for (const child of started) if (child.exitCode === null) child.kill("SIGKILL");
}
