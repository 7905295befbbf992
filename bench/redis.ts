// Benchmark: sessions issued per second and CLI time to link, on memory, on Redis with one instance and with three.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClientResult } from "../src/client/index.ts";
import { findFreePort, findFreeRange } from "../src/lib/ports.ts";
import { watchLines } from "../test/lines.ts";
import { type BenchServer, benchServer, benchService, spawnBinary, stopAll } from "./fixtures.ts";
import { percentile } from "./stats.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 60);
const LOAD_MS = Number(process.env.BENCH_LOAD_MS ?? 3_000);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 32);
/** High enough that no limit answers 429 during the runs. */
const RAISED = "100000,100000";
const RAISE = {
  maxSessions: "1000000",
  ttl: "5s",
  sessionRate: RAISED,
  apiKeySessionRate: RAISED,
  apiKeyCallRate: RAISED,
  serviceRequestRate: RAISED,
  serviceReportRate: RAISED,
  addressReportRate: RAISED,
  readRate: RAISED,
};

/** redis-server on a free port, persistence off, in a temp folder; killed by PID at the end. */
async function startRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const path = Bun.spawnSync(["sh", "-c", "command -v redis-server"]).stdout.toString().trim();
  if (!path) throw new Error("redis-server is not installed: apt-get install redis-server");
  const dir = mkdtempSync(join(tmpdir(), "pkipc-bench-redis-"));
  const port = findFreePort();
  const child = Bun.spawn([path, "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"], { stdout: "pipe", stderr: "pipe" });
  await watchLines(child.stdout).waitFor(/Ready to accept connections/, 10_000);
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      child.kill("SIGKILL");
      await child.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** WORKERS loops creating sessions for LOAD_MS, spread round robin over `servers`; sessions per second. */
async function issueRate(servers: BenchServer[]): Promise<{ perSecond: number; failed: number }> {
  let issued = 0;
  let failed = 0;
  let next = 0;
  const end = performance.now() + LOAD_MS;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (performance.now() < end) {
        const server = servers[next++ % servers.length]!;
        const response = await fetch(`${server.url}/v1/sessions`, { method: "POST", headers: { authorization: `Bearer ${servers[0]!.apiKey}` } });
        await response.arrayBuffer();
        if (response.status === 201) issued++;
        else failed++;
      }
    }),
  );
  return { perSecond: issued / ((performance.now() - start) / 1000), failed };
}

/** One CLI client against `url`: its own time to link (session request to confirmed link). */
async function link(url: string, apiKey: string): Promise<number | undefined> {
  const child = spawnBinary(["client", "--server", url, "--json", "--timeout", "10s"], { PKIPC_API_KEY: apiKey });
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const [out] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  clearTimeout(timer);
  try {
    const result = JSON.parse(out) as ClientResult;
    return result.linked && result.process?.pid === child.pid ? result.timeToLinkMs : undefined;
  } catch {
    return undefined;
  }
}

interface Row {
  name: string;
  perSecond: number;
  failed: number;
  link: number[];
  notLinked: number;
}

/** One configuration: its instances (one service reporting to the first... or the second, when there are several). */
async function measure(name: string, store: string, count: number): Promise<Row> {
  const range = findFreeRange(64);
  const servers: BenchServer[] = [];
  for (let i = 0; i < count; i++) servers.push(await benchServer(RAISE, ["--store", store], range));
  // With several instances the service reports to another instance than most clients ask: links cross instances.
  const service = await benchService(servers[count > 1 ? 1 : 0]!, { allowProcesses: "pkipc", processReportRate: RAISED });
  const load = await issueRate(servers);
  await Bun.sleep(500);
  const times: number[] = [];
  let notLinked = 0;
  for (let i = 0; i < RUNS; i++) {
    const t = await link(servers[i % count]!.url, servers[0]!.apiKey);
    if (t === undefined) notLinked++;
    else times.push(t);
  }
  void service;
  await stopAll();
  return { name, perSecond: load.perSecond, failed: load.failed, link: times, notLinked };
}

const redis = await startRedis();
try {
  console.log(`sessions: ${WORKERS} concurrent requests for ${LOAD_MS / 1000} s, spread over the instances; link: ${RUNS} sequential CLI clients over tcp`);
  console.log(`limits raised on every instance (no 429 during the runs): ${Object.entries(RAISE).map(([k, v]) => `${k}=${v}`).join(", ")}`);
  const rows = [
    await measure("memory, 1 instance", "memory", 1),
    await measure("redis, 1 instance", redis.url, 1),
    await measure("redis, 3 instances", redis.url, 3),
  ];
  const f = (n: number) => n.toFixed(2);
  console.log(`${"store".padEnd(22)} ${"sessions/s".padStart(11)} ${"link median".padStart(12)} ${"link p95".padStart(9)}  not linked`);
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(22)} ${Math.round(r.perSecond).toString().padStart(11)} ${`${f(percentile(r.link, 50))} ms`.padStart(12)} ${`${f(percentile(r.link, 95))} ms`.padStart(9)}  ${r.notLinked}${r.failed ? `  (${r.failed} session requests failed)` : ""}`,
    );
  }
  const [memory, one] = rows;
  console.log(`redis (1 instance) issues ${((one!.perSecond / memory!.perSecond) * 100).toFixed(0)}% of memory's sessions/s   [target: >= 50%]`);
  console.log(`redis (1 instance) link median is ${f(percentile(one!.link, 50) - percentile(memory!.link, 50))} ms above memory's   [target: <= 2 ms]`);
} finally {
  await stopAll();
  await redis.stop();
}
