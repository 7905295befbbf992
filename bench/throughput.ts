// Session issue rate under wrk (32 connections): the pkipc server against an Elysia route doing the same work and
// a bare Bun.serve, in the same run; then memory per live session (RSS from 10,000 to 100,000 live sessions).
import { join } from "node:path";
import { heapStats } from "bun:jsc";
import { silentLogger } from "../src/lib/log.ts";
import { serverConfig, serverOptions } from "../src/commands/server.ts";
import { createSessions } from "../src/server/sessions.ts";
import { memoryStore } from "../src/server/state/memory/sessions.ts";
import { benchServer, type Raise, stopAll } from "./fixtures.ts";
import { cpuMicros, wrkOrExit, wrk as wrkRun } from "./wrk.ts";

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const MEMORY_STEPS = [10_000, 50_000, 100_000];

/** Limits a benchmark would trip, raised: sessions per address off, the live cap and the store far above the run. */
const RAISED: Raise<typeof serverOptions> = {
  apiKeySessionRate: "0",
  apiKeyCallRate: "0",
  maxSessions: "1000000",
  maxSessionsPerApiKey: "1000000",
  maxRecords: "5000000",
};
/** For the memory steps: sessions outlive the whole measurement. */
const LONG_LIVED: Raise<typeof serverOptions> = { ...RAISED, ttl: "600s" };

const wrk = (url: string, apiKey?: string) => wrkRun(url, { apiKey, connections: CONNECTIONS, seconds: SECONDS });

/** A reference server from bench/reference/servers.ts, killed by PID at the end. */
async function reference(kind: "elysia" | "bare") {
  const child = Bun.spawn([process.execPath, join(import.meta.dir, "reference", "servers.ts"), kind], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = child.stdout.getReader();
  let text = "";
  while (!/port \d+/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`reference ${kind} exited: ${text}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return { url: `http://127.0.0.1:${/port (\d+)/.exec(text)![1]}`, stop: () => child.kill("SIGKILL"), pid: child.pid };
}

const rssKb = async (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(await Bun.file(`/proc/${pid}/status`).text())?.[1] ?? Number.NaN);

/** Issues sessions on `url` with `apiKey` until `count` are live, 64 requests in flight. */
async function issueUntil(url: string, apiKey: string, from: number, count: number): Promise<void> {
  let next = from;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < count) {
        next++;
        const response = await fetch(`${url}/v1/sessions`, {
          method: "POST",
          headers: { authorization: `Bearer ${apiKey}` },
        });
        if (response.status !== 201) throw new Error(`session ${next}: ${response.status} ${await response.text()}`);
        await response.arrayBuffer();
      }
    }),
  );
}

async function main() {
  wrkOrExit();
  const pkipc = await benchServer(RAISED);
  const elysia = await reference("elysia");
  const bare = await reference("bare");
  console.log(`raised: ${pkipc.raised.join(", ")}`);
  console.log(
    `wrk -t2 -c${CONNECTIONS} -d${SECONDS}s POST /v1/sessions (pkipc: with the API key), ${ROUNDS} rounds, best of each:`,
  );
  const best = { pkipc: 0, elysia: 0, bare: 0 };
  // CPU per request is steadier than the rate on a shared machine: another process's load slows the rate of
  // the busiest server most, but moves its CPU per request far less.
  const cpu = { pkipc: [] as number[], elysia: [] as number[], bare: [] as number[] };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, url, pid] of [
        ["pkipc", pkipc.url, pkipc.pid],
        ["elysia", elysia.url, elysia.pid],
        ["bare", bare.url, bare.pid],
      ] as const) {
        const before = await cpuMicros(pid);
        const { rps, non2xx, requests } = await wrk(`${url}/v1/sessions`, name === "pkipc" ? pkipc.apiKey : undefined);
        const perRequest = ((await cpuMicros(pid)) - before) / requests;
        if (non2xx) console.log(`  ${name}: ${non2xx} answers were not 2xx`);
        best[name] = Math.max(best[name], rps);
        cpu[name].push(perRequest);
        console.log(
          `  round ${round + 1} ${name.padEnd(6)} ${Math.round(rps).toLocaleString("en")} sessions/s, ${perRequest.toFixed(1)} µs of CPU each`,
        );
      }
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    console.log(
      `CPU per session (median of rounds): pkipc ${median(cpu.pkipc).toFixed(1)} µs, Elysia route ${median(cpu.elysia).toFixed(1)} µs, bare ${median(cpu.bare).toFixed(1)} µs; ` +
        `pkipc costs ${(median(cpu.pkipc) / median(cpu.elysia)).toFixed(2)} x the Elysia route (70 % of its rate is 1.43 x)`,
    );
    console.log(
      `session issue: pkipc ${Math.round(best.pkipc).toLocaleString("en")}/s, Elysia route ${Math.round(best.elysia).toLocaleString("en")}/s, ` +
        `bare Bun.serve ${Math.round(best.bare).toLocaleString("en")}/s; pkipc = ${((100 * best.pkipc) / best.elysia).toFixed(0)} % of Elysia ` +
        `(target >= 70 %), ${((100 * best.pkipc) / best.bare).toFixed(0)} % of bare`,
    );
  } finally {
    elysia.stop();
    bare.stop();
  }
  // Memory: a fresh server, sessions that live 10 minutes; RSS after each step.
  const fresh = await benchServer(LONG_LIVED);
  let issued = 0;
  const points: { live: number; rss: number }[] = [];
  for (const step of MEMORY_STEPS) {
    await issueUntil(fresh.url, fresh.apiKey, issued, step);
    issued = step;
    // the server collects on idle: the lowest of a few readings is the least garbage
    let rss = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 4; i++) {
      await Bun.sleep(750);
      rss = Math.min(rss, await rssKb(fresh.pid));
    }
    points.push({ live: step, rss });
    console.log(`  ${step.toLocaleString("en")} live sessions: RSS ${(points.at(-1)!.rss / 1024).toFixed(1)} MB`);
  }
  const first = points[0]!;
  const last = points.at(-1)!;
  const perSession = ((last.rss - first.rss) * 1024) / (last.live - first.live);
  console.log(
    `memory: ${Math.round(perSession)} bytes per live session (RSS ${first.live.toLocaleString("en")} -> ${last.live.toLocaleString("en")}; target <= 1,024); ` +
      `1,000,000 live would take about ${((perSession * 1_000_000 + first.rss * 1024) / 2 ** 30).toFixed(2)} GB (target <= 1.5)`,
  );
}

/** The store's own bytes, without the HTTP server's garbage: sessions issued in this process, heap after a full collection. */
async function heapPerSession(count: number): Promise<number> {
  const { config } = serverConfig(
    {
      listen: "127.0.0.1:0",
      maxSessions: "1000000",
      maxPageSessions: "1000000",
      maxPageSessionsPerClient: "1000000",
      ttl: "600s",
      servicesFile: "/nonexistent",
    },
    [],
    {},
  );
  const store = memoryStore({ maxRecords: count * 2 });
  const sessions = createSessions(config, store, silentLogger);
  const heap = () => (Bun.gc(true), heapStats().heapSize);
  await sessions.create({ address: "127.0.0.1" });
  const before = heap();
  // addresses as many users would have them: 250 different ones
  for (let i = 0; i < count; i++) await sessions.create({ address: `10.0.0.${i % 250}` });
  const bytes = (heap() - before) / count;
  await store.close();
  return bytes;
}

try {
  await main();
  const live = 999_000;
  console.log(
    `memory store alone, in-process: ${Math.round(await heapPerSession(live))} bytes of heap per live session at ${live.toLocaleString("en")} live`,
  );
} finally {
  await stopAll();
}
