// Benchmark: Bun's RedisClient against ioredis on one redis-server (the single-node path's choice, issue 24 item 4):
// one command at a time (round trip), and many at once (throughput), for GET and for EVALSHA of a small script.
import { RedisClient } from "bun";
import Redis from "ioredis";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findFreePort } from "../src/lib/ports.ts";
import { watchLines } from "../test/lines.ts";
import { percentile } from "./stats.ts";

const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 5_000);
const CONCURRENT = Number(process.env.BENCH_CONCURRENT ?? 64);
const BATCHES = Number(process.env.BENCH_BATCHES ?? 300);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const path = Bun.spawnSync(["sh", "-c", "command -v redis-server"]).stdout.toString().trim();
if (!path) throw new Error("redis-server is not installed: apt-get install redis-server");
const dir = mkdtempSync(join(tmpdir(), "pkipc-bench-clients-"));
const port = findFreePort();
const server = Bun.spawn(
  [path, "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"],
  { stdout: "pipe", stderr: "pipe" },
);
await watchLines(server.stdout).waitFor(/Ready to accept connections/, 10_000);

type Send = (name: string, args: string[]) => Promise<unknown>;
const bun = new RedisClient(`redis://127.0.0.1:${port}`, { enableAutoPipelining: true });
await bun.connect();
const io = new Redis({ host: "127.0.0.1", port, enableAutoPipelining: true });
await new Promise((resolve) => io.once("ready", resolve));
const clients: Array<[string, Send]> = [
  ["Bun RedisClient", (name, args) => bun.send(name, args)],
  ["ioredis", (name, args) => io.call(name, ...args)],
];
const LUA = "return redis.call('GET', KEYS[1])";
const sha = String(await io.call("SCRIPT", "LOAD", LUA));
const commands: Array<[string, string[]]> = [
  ["GET", ["bench:key"]],
  ["EVALSHA", [sha, "1", "bench:key"]],
];
await io.set("bench:key", "x".repeat(200));

try {
  console.log(
    `${SEQUENTIAL} commands one at a time (median and p95 round trip), then ${BATCHES} batches of ${CONCURRENT} at once (commands/s); ${ROUNDS} rounds taking turns`,
  );
  const results = new Map<string, { rtt: number[]; rate: number[] }>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [client, send] of clients) {
      for (const [name, args] of commands) {
        const key = `${client.padEnd(16)} ${name.padEnd(8)}`;
        const r = results.get(key) ?? { rtt: [], rate: [] };
        results.set(key, r);
        for (let i = 0; i < SEQUENTIAL; i++) {
          const t = performance.now();
          await send(name, args);
          r.rtt.push((performance.now() - t) * 1000);
        }
        const t = performance.now();
        for (let b = 0; b < BATCHES; b++) await Promise.all(Array.from({ length: CONCURRENT }, () => send(name, args)));
        r.rate.push((BATCHES * CONCURRENT) / ((performance.now() - t) / 1000));
      }
    }
  }
  console.log(
    `${"client".padEnd(16)} ${"command".padEnd(8)} ${"rtt median".padStart(11)} ${"rtt p95".padStart(9)} ${"commands/s (median)".padStart(20)}`,
  );
  for (const [key, r] of results) {
    console.log(
      `${key} ${`${percentile(r.rtt, 50).toFixed(1)} µs`.padStart(11)} ${`${percentile(r.rtt, 95).toFixed(1)} µs`.padStart(9)} ${String(Math.round(percentile(r.rate, 50))).padStart(20)}`,
    );
  }
} finally {
  bun.close();
  io.disconnect();
  server.kill("SIGKILL");
  await server.exited;
  rmSync(dir, { recursive: true, force: true });
}
