// Issue 19 item 1 at full scale: page sessions from 50 loopback addresses (a forged Origin), 10,000 long polls
// held on them, then 120 more; meanwhile /healthz and an honest backend's session create are timed and the
// server's RSS sampled. On memory and on Redis. PKIPC_BENCH_BINARY runs it against another build (before/after).
import { pageSession, pollFlood, type PollOutcome, sourceAddress, tally } from "../test/security/poll-flood-tools.ts";
import { benchServer, startRedis, stopAll } from "./fixtures.ts";
import { percentile } from "./stats.ts";

const POLLS = Number(process.env.BENCH_POLLS ?? 10_000);
const MORE = Number(process.env.BENCH_MORE_POLLS ?? 120);
const ADDRESSES = Array.from({ length: Number(process.env.BENCH_ADDRESSES ?? 50) }, (_, i) => sourceAddress(i));
const WAIT_S = 30;
/** How long after the flood is sent /healthz and creates are timed, in ms. */
const MEASURE_MS = 10_000;

const rssMb = async (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(await Bun.file(`/proc/${pid}/status`).text())?.[1] ?? Number.NaN) / 1024;

/** ms of the TCP connect (SYN to accept: the kernel's accept queue) of each timed request, in order. */
const connects: number[] = [];

/**
 * ms until `curl` has the answer to `args`, as curl measures it in a process of its own (this one is busy with
 * the flood's sockets, which would add its own delay), or 35 s when it gives up.
 */
async function timed(args: string[]): Promise<number> {
  const child = Bun.spawn(
    ["curl", "-s", "-o", "/dev/null", "-m", "35", "-w", "%{http_code} %{time_connect} %{time_total}", ...args],
    { stdout: "pipe", stderr: "ignore" },
  );
  const [out] = await Promise.all([new Response(child.stdout).text(), child.exited]);
  const [code, connect, total] = out.trim().split(" ");
  connects.push(Number(connect) * 1000);
  return code === "000" ? 35_000 : Number(total) * 1000;
}

async function run(name: string, extra: string[]): Promise<void> {
  const server = await benchServer({}, extra);
  const ids: string[] = [];
  for (const address of ADDRESSES) ids.push(await pageSession(server.url, address, server.url));
  const paths = ids.map((id) => `/v1/sessions/${id}?wait=${WAIT_S}`);
  const headers = { origin: server.url };
  let peak = await rssMb(server.pid);
  const sampler = setInterval(async () => (peak = Math.max(peak, await rssMb(server.pid).catch(() => 0))), 250);
  const deadlineMs = WAIT_S * 1000 + 15_000;
  // Sent 500 at a time, 100 ms apart: a burst of 10,000 connects overflows the accept queue (somaxconn 4,096)
  // and other clients' connects then wait for their TCP retries (1 s, 3 s), whatever the server does.
  const first = pollFlood(server.url, paths, ADDRESSES, POLLS, headers, deadlineMs, { batch: 500, pauseMs: 100 });
  await first.sent;
  await Bun.sleep(1_000);
  const more = pollFlood(server.url, paths, ADDRESSES, MORE, headers, deadlineMs);
  const health: number[] = [];
  connects.length = 0;
  const creates: number[] = [];
  const until = performance.now() + MEASURE_MS;
  while (performance.now() < until) {
    health.push(await timed([`${server.url}/healthz`]));
    creates.push(
      await timed(["-X", "POST", "-H", `authorization: Bearer ${server.apiKey}`, `${server.url}/v1/sessions`]),
    );
    await Bun.sleep(250);
  }
  const slowConnects = connects.filter((ms) => ms > 500).map((ms) => ms.toFixed(0));
  const outcomes: PollOutcome[] = [...(await first.done), ...(await more.done)];
  const after = await timed([`${server.url}/healthz`]);
  clearInterval(sampler);
  const late = outcomes.filter((o) => o.ms > WAIT_S * 1000 + 2_000).length;
  const f = (ms: number) => `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  console.log(`${name}: ${POLLS} + ${MORE} polls (wait=${WAIT_S}) from ${ADDRESSES.length} addresses`);
  console.log(
    `  /healthz during: median ${f(percentile(health, 50))}, max ${f(Math.max(...health))} (n=${health.length}; in order: ${health.map((ms) => ms.toFixed(0)).join(" ")}); after: ${f(after)}`,
  );
  console.log(
    `  of those requests, ${slowConnects.length} waited over 500 ms for the TCP connect alone (the kernel's accept queue, before the server sees them): ${slowConnects.join(" ")} ms`,
  );
  console.log(
    `  backend create during: median ${f(percentile(creates, 50))}, max ${f(Math.max(...creates))} (n=${creates.length})`,
  );
  console.log(
    `  server RSS peak ${peak.toFixed(0)} MiB; polls answered ${JSON.stringify(tally(outcomes))} (0 = no answer in ${deadlineMs / 1000} s), ${late} later than their wait + 2 s`,
  );
  const said = new Set(
    server.lines.filter((l) => / (WARN|ERROR) /.test(l)).map((l) => l.replace(/\d+/g, "N").slice(0, 160)),
  );
  if (said.size > 0) console.log(`  server said: ${[...said].slice(0, 5).join(" | ")}`);
  await stopAll();
}

try {
  await run("memory", []);
  // The cost of held polls themselves: bounds raised so that all of them are held (a build without these
  // flags, as 6bd6c72, runs with BENCH_HELD=0).
  if (process.env.BENCH_HELD !== "0")
    await run("memory, poll bounds raised (all held)", ["--max-polls-per-client", "1000", "--max-polls", "20000"]);
  const redis = await startRedis();
  try {
    await run("redis", ["--store", redis.url]);
  } finally {
    await redis.stop();
  }
} finally {
  await stopAll();
}
