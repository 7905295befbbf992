// Benchmark: sessions issued per second and CLI time to link, on memory, on Redis with one instance and with three,
// through Sentinel (a primary, a replica, three sentinels) and on a Cluster (three primaries, three replicas) with
// one; then each of them but three instances under wrk, with the CPU pkipc and redis-server (the primary; in a
// Cluster all six nodes) spend per session.
import type { ClientResult } from "../src/client/index.ts";
import { findFreeRange } from "../src/lib/ports.ts";
import { testCluster } from "../test/redis-cluster.ts";
import { testSentinels } from "../test/redis-sentinel.ts";
import { type BenchServer, benchServer, benchService, spawnBinary, startRedis, stopAll } from "./fixtures.ts";
import { percentile } from "./stats.ts";
import { cpuMicros, wrk, wrkOrExit } from "./wrk.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 60);
const LOAD_MS = Number(process.env.BENCH_LOAD_MS ?? 1_500);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Rounds of wrk (2 threads, 32 connections) against one instance, and their length in seconds. */
const WRK_ROUNDS = Number(process.env.BENCH_WRK_ROUNDS ?? 3);
const WRK_SECONDS = Number(process.env.BENCH_WRK_SECONDS ?? 4);
/** High enough that no limit answers 429 during the runs. */
const RAISED = "100000,100000";
const RAISE = {
  maxSessions: "1000000",
  maxSessionsPerApiKey: "1000000",
  ttl: "5s",
  sessionRate: RAISED,
  apiKeySessionRate: RAISED,
  apiKeyCallRate: RAISED,
  serviceRequestRate: RAISED,
  serviceReportRate: RAISED,
  addressReportRate: RAISED,
  readRate: RAISED,
};

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
        const response = await fetch(`${server.url}/v1/sessions`, {
          method: "POST",
          headers: { authorization: `Bearer ${servers[0]!.apiKey}` },
        });
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

interface Config {
  name: string;
  servers: BenchServer[];
  rates: number[];
  failed: number;
  link: number[];
  notLinked: number;
}

/** One configuration's instances, with one service (reporting to the second instance when there are several, so links cross instances). */
async function start(name: string, store: string, count: number): Promise<Config> {
  const range = findFreeRange(64);
  const servers: BenchServer[] = [];
  for (let i = 0; i < count; i++) servers.push(await benchServer(RAISE, ["--store", store], range));
  await benchService(servers[count > 1 ? 1 : 0]!, { allowProcesses: "pkipc", processReportRate: RAISED });
  return { name, servers, rates: [], failed: 0, link: [], notLinked: 0 };
}

wrkOrExit();
const redis = await startRedis();
// The tests' own deployments (shared: this process stops them), so a bench and a test never start one differently.
const sentinel = await testSentinels(true).catch(async (error) => {
  await redis.stop();
  throw error;
});
const cluster = await testCluster(true).catch(async (error) => {
  await redis.stop();
  await sentinel.stop();
  throw error;
});
try {
  console.log(
    `sessions: ${WORKERS} concurrent requests for ${LOAD_MS / 1000} s spread over the instances, ${ROUNDS} rounds; link: ${RUNS} CLI clients over tcp each`,
  );
  console.log(
    "the configurations take turns (round by round, client by client), so a busy moment of a shared machine hits them alike",
  );
  console.log(
    `limits raised on every instance (no 429 during the runs): ${Object.entries(RAISE)
      .map(([k, v]) => `${k}=${v}`)
      .join(", ")}`,
  );
  // Each on its own Redis database, so their sessions and counts stay apart.
  const configs = [
    await start("memory, 1 instance", "memory", 1),
    await start("redis, 1 instance", `${redis.url}/1`, 1),
    await start("redis, 3 instances", `${redis.url}/2`, 3),
    await start("sentinel, 1 instance", sentinel.url, 1),
    await start("cluster, 1 instance", cluster.url, 1),
  ];
  // Links first, on a quiet store; then the load. The memory store keeps 100,000 records for 5 minutes:
  // rounds of 1.5 s stay under that ceiling up to 22,000 sessions a second.
  for (let i = 0; i < RUNS; i++) {
    for (const config of configs) {
      const t = await link(config.servers[i % config.servers.length]!.url, config.servers[0]!.apiKey);
      if (t === undefined) config.notLinked++;
      else config.link.push(t);
    }
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const config of configs) {
      const load = await issueRate(config.servers);
      config.rates.push(load.perSecond);
      config.failed += load.failed;
    }
  }
  const f = (n: number) => n.toFixed(2);
  const median = (xs: number[]) => percentile(xs, 50);
  console.log(
    `${"store".padEnd(22)} ${"sessions/s (median of rounds, min-max)".padEnd(40)} ${"link median".padStart(12)} ${"link p95".padStart(9)}  not linked`,
  );
  for (const c of configs) {
    const rate = `${Math.round(median(c.rates))} (${Math.round(Math.min(...c.rates))}-${Math.round(Math.max(...c.rates))})`;
    console.log(
      `${c.name.padEnd(22)} ${rate.padEnd(40)} ${`${f(median(c.link))} ms`.padStart(12)} ${`${f(percentile(c.link, 95))} ms`.padStart(9)}  ${c.notLinked}${c.failed ? `  (${c.failed} session requests failed)` : ""}`,
    );
  }
  const [memory, one] = configs;
  console.log(
    `redis (1 instance) issues ${((median(one!.rates) / median(memory!.rates)) * 100).toFixed(0)}% of memory's sessions/s   [target: >= 50%]`,
  );
  console.log(
    `redis (1 instance) link median is ${f(median(one!.link) - median(memory!.link))} ms above memory's   [target: <= 2 ms]`,
  );

  // The same two under wrk, a load that costs the machine little, with the CPU each process spent per session:
  // on a shared machine the CPU moves far less than the rate.
  console.log(
    `\nunder wrk (2 threads, 32 connections, ${WRK_SECONDS} s, ${WRK_ROUNDS} rounds taking turns): median sessions/s, CPU per session`,
  );
  const [, , , viaSentinel, viaCluster] = configs;
  const wrkConfigs = [memory!, one!, viaSentinel!, viaCluster!];
  /** The CPU of the redis-server processes a configuration's sessions cost, in µs. */
  const redisCpu = async (c: Config) => {
    const pids =
      c === viaCluster ? cluster.nodes.map((n) => n.pid()) : [c === viaSentinel ? sentinel.primary.pid() : redis.pid];
    let total = 0;
    for (const pid of pids) total += await cpuMicros(pid);
    return total;
  };
  const under = wrkConfigs.map((c) => ({
    name: c.name,
    rps: [] as number[],
    server: [] as number[],
    redis: [] as number[],
    non2xx: 0,
  }));
  for (let round = 0; round < WRK_ROUNDS; round++) {
    for (const [i, c] of wrkConfigs.entries()) {
      const server = c.servers[0]!;
      const before = [await cpuMicros(server.pid), await redisCpu(c)];
      const load = await wrk(`${server.url}/v1/sessions`, {
        apiKey: server.apiKey,
        connections: 32,
        seconds: WRK_SECONDS,
      });
      const after = [await cpuMicros(server.pid), await redisCpu(c)];
      under[i]!.rps.push(load.rps);
      under[i]!.server.push((after[0]! - before[0]!) / load.requests);
      under[i]!.redis.push((after[1]! - before[1]!) / load.requests);
      under[i]!.non2xx += load.non2xx;
    }
  }
  for (const u of under) {
    const redisCpu = u.name !== memory!.name ? `, redis-server ${f(median(u.redis))} µs` : "";
    console.log(
      `${u.name.padEnd(22)} ${String(Math.round(median(u.rps))).padStart(6)}/s   pkipc ${f(median(u.server))} µs${redisCpu}${u.non2xx ? `  (${u.non2xx} answers not 201)` : ""}`,
    );
  }
  console.log(
    `redis (1 instance) under wrk issues ${((median(under[1]!.rps) / median(under[0]!.rps)) * 100).toFixed(0)}% of memory's sessions/s`,
  );
  for (const c of [viaSentinel!, viaCluster!]) {
    console.log(
      `${c.name}: link median ${f(median(c.link) - median(memory!.link))} ms above memory's; ${((median(c.rates) / median(memory!.rates)) * 100).toFixed(0)}% of its sessions/s`,
    );
  }
} finally {
  await stopAll();
  await redis.stop();
  await sentinel.stop();
  await cluster.stop();
}
