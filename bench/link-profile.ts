// Where a CLI link spends its time: server, service and client in this one process (the service attributes
// the knocks to it), each step stamped on one clock. Prints the median of each step over the runs. The three
// share one event loop here, so their work runs one after another, not side by side as in bench/link.ts:
// read it for the order and the share of each step, not for the total.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { tcp } from "../plugins/transport/tcp.ts";
import { serverConfig } from "../src/commands/server.ts";
import { findFreeRange } from "../src/lib/ports.ts";
import { createLogger } from "../src/lib/log.ts";
import { apiClient } from "../src/protocol/api-client.ts";
import { startServer } from "../src/server/index.ts";
import { createAttributor } from "../src/service/attribution/index.ts";
import { startService } from "../src/service/index.ts";
import { runClient } from "../src/client/index.ts";
import { percentile } from "./stats.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 60);
const RAISED = "10000,10000";
const folder = mkdtempSync(join(tmpdir(), "pkipc-profile-"));
const log = createLogger({ level: "warn", format: "text" });
const range = findFreeRange(64);
const raised = [
  "--session-rate",
  "--api-key-session-rate",
  "--api-key-call-rate",
  "--service-request-rate",
  "--service-report-rate",
  "--address-report-rate",
  "--read-rate",
].flatMap((f) => [f, RAISED]);
const { config } = serverConfig({}, ["--listen", "127.0.0.1:0", "--range", `${range.start}-${range.end}`, ...raised], {
  PKIPC_SERVICES_FILE: join(folder, "services.json"),
});
const server = await startServer(config, log);
let marks: Record<string, number> = {};
const mark = (name: string) => {
  marks[name] ??= performance.now();
};
// Each request the client and the service make, stamped as it goes out and as its answer comes.
const realFetch = globalThis.fetch;
globalThis.fetch = Object.assign(async (input: string | URL | Request, init?: RequestInit) => {
  const url = new URL(input instanceof Request ? input.url : input);
  const what = `${init?.method ?? "GET"} ${url.pathname.replace(/\/v1\/sessions\/[^/]+/, "/v1/sessions/ID")}${url.searchParams.has("wait") ? " (poll)" : ""}`;
  const n = (seen[what] = (seen[what] ?? 0) + 1);
  mark(`${what} #${n} sent`);
  const response = await realFetch(input, init);
  mark(`${what} #${n} answered`);
  return response;
}, realFetch);
let seen: Record<string, number> = {};
const base = createAttributor();
const attributor = {
  ...base,
  attribute: async (socket: Parameters<typeof base.attribute>[0]) => {
    mark("first knock accepted");
    const found = await base.attribute(socket);
    mark("first knock attributed");
    return found;
  },
};
const apiKey = await server.registry.issueApiKey("profile", server.url);
const { token } = await server.registry.issueToken(60_000);
const credentials = await apiClient(server.url).enroll(token, "profile");
const service = await startService(
  {
    server: server.url,
    credentials,
    allowProcesses: ["bun"],
    users: [process.getuid!()],
    reportsPerProcess: { perSecond: 10_000, burst: 10_000 },
    attributor,
    onReport: () => mark("report answered"),
  },
  log,
);
const steps: Record<string, number[]> = {};
const totals: number[] = [];
let failures = 0;
try {
  for (let i = 0; i < RUNS; i++) {
    // One process knocks every run: a port of its previous code within 1 s reads as a browser's retry (the
    // service's duplicate window) and the burst would wait out the idle gap; each run starts past it.
    await Bun.sleep(1100);
    marks = {};
    seen = {};
    const start = performance.now();
    const result = await runClient({
      server: server.url,
      apiKey: apiKey.key,
      timeoutMs: 10_000,
      transport: {
        name: "tcp",
        knock: (target, signal, events) => {
          mark("first knock out");
          return tcp.knock(target, signal, events).then((r) => (mark("first knock closed by service"), r));
        },
      },
    });
    if (!result.linked) {
      failures++;
      continue;
    }
    mark("client sees link");
    totals.push(result.timeToLinkMs!);
    for (const [name, at] of Object.entries(marks)) (steps[name] ??= []).push(at - start);
  }
  console.log(
    `a CLI link in one process (server, service, client; tcp; API key), ${RUNS} runs: ms from the session request`,
  );
  for (const [name, values] of Object.entries(steps).sort((a, b) => percentile(a[1], 50) - percentile(b[1], 50))) {
    console.log(
      `  ${name.padEnd(32)} median ${percentile(values, 50).toFixed(2)}  p95 ${percentile(values, 95).toFixed(2)}`,
    );
  }
  console.log(`  not linked: ${failures}`);
  console.log(`  timeToLinkMs: median ${percentile(totals, 50).toFixed(2)}, p95 ${percentile(totals, 95).toFixed(2)}`);
  console.log(`load: ${readFileSync("/proc/loadavg", "utf8").trim()}`);
} finally {
  await service.stop();
  await server.stop();
  rmSync(folder, { recursive: true, force: true });
}
