// What signing and limits cost the server: sessions issued and reports processed per second, side by side,
// (a) signed with default limits, (b) signed with limits raised out of the way, (c) unsigned (--insecure-unsigned),
// each against a fresh `pkipc server` from the compiled binary; plus the raw HMAC cost measured in-process.
import { apiClient } from "../src/protocol/api-client.ts";
import { type ServiceCredentials, signRequest, verifyRequest } from "../src/protocol/signing.ts";
import { serverOptions } from "../src/commands/server.ts";
import { adminToken, type BenchServer, benchServer, optionFlags, type Raise, stopAll } from "./fixtures.ts";

/** Connections the load generator keeps busy at once (each a keep-alive fetch with its own deadline). */
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
/** Not counted: lets connections open and the server's code warm up. */
const WARMUP_MS = 300;
const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const REQUEST_DEADLINE_MS = 5000;
/** Live sessions the reports are matched against. */
const LIVE_SESSIONS = 1000;
/** Far above what two cores can serve, so no limit answers: the limiters still run their bookkeeping. */
const OUT_OF_THE_WAY = "100000,1000000";
const RAISED: Raise<typeof serverOptions> = {
  sessionRate: OUT_OF_THE_WAY,
  apiKeySessionRate: OUT_OF_THE_WAY,
  serviceRequestRate: OUT_OF_THE_WAY,
  serviceReportRate: OUT_OF_THE_WAY,
  addressReportRate: OUT_OF_THE_WAY,
  // A few seconds at full speed issue more sessions than the default cap (10,000 live at once, 503 past it).
  maxSessions: "1000000",
  maxSessionsPerApiKey: "1000000",
};
const FAKE_PROCESS = {
  pid: 4242,
  ppid: 1,
  uid: 1000,
  user: "bench",
  exe: "/usr/lib/chromium/chromium",
  name: "chromium",
};

interface Call {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

interface Load {
  /** Answers by HTTP status inside the measured window; 0 = no answer (network error or deadline). */
  statuses: Map<number, number>;
  /** 2xx answers in each second of the window. */
  okPerSecond: number[];
  seconds: number;
}

/** Keeps CONNECTIONS requests in flight for WARMUP_MS + MEASURE_MS and counts the answers that land in the window. */
async function drive(base: string, make: (i: number) => Call): Promise<Load> {
  const start = performance.now() + WARMUP_MS;
  const end = start + MEASURE_MS;
  const statuses = new Map<number, number>();
  const okPerSecond = new Array<number>(Math.ceil(MEASURE_MS / 1000)).fill(0);
  let next = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < end) {
        const call = make(next++);
        let status = 0;
        try {
          const response = await fetch(base + call.path, {
            method: call.method,
            headers: call.headers,
            body: call.body,
            signal: AbortSignal.timeout(REQUEST_DEADLINE_MS),
          });
          await response.arrayBuffer();
          status = response.status;
        } catch {
          status = 0;
        }
        const t = performance.now();
        if (t < start || t >= end) continue;
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status >= 200 && status < 300) okPerSecond[Math.floor((t - start) / 1000)]!++;
      }
    }),
  );
  return { statuses, okPerSecond, seconds: MEASURE_MS / 1000 };
}

/** `count` distinct random ports of `range`. */
function randomPorts(range: { start: number; end: number }, count: number): number[] {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(range.start + Math.floor(Math.random() * (range.end - range.start + 1)));
  return [...ports];
}

/** Creates `count` sessions, CONNECTIONS at a time; fails unless every one is issued. */
async function makeSessions(server: BenchServer, count: number): Promise<void> {
  const api = apiClient(server.url, { timeoutMs: REQUEST_DEADLINE_MS, apiKey: server.apiKey });
  let next = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < count) {
        next++;
        await api.createSession();
      }
    }),
  );
}

/**
 * Reports of random full codes (12 ports: practically never a live code), prepared before the window so the
 * load generator does not spend the measured seconds on HMACs; signed when credentials are given.
 */
function reportCalls(
  server: BenchServer,
  credentials: ServiceCredentials | undefined,
  count: number,
): (i: number) => Call {
  const bodies = Array.from({ length: 1000 }, () =>
    JSON.stringify({
      process: FAKE_PROCESS,
      claim: { strategy: "server-match", observed: randomPorts(server.range, 12), failed: [] },
    }),
  );
  const make = (i: number): Call => {
    const body = bodies[i % bodies.length]!;
    const signature = credentials ? signRequest(credentials, { method: "POST", path: "/v1/reports", body }) : {};
    return { method: "POST", path: "/v1/reports", headers: { "content-type": "application/json", ...signature }, body };
  };
  const prepared = Array.from({ length: count }, (_, i) => make(i));
  // Past the prepared ones (a machine faster than expected), sign on the fly: every nonce must be new.
  return (i) => prepared[i] ?? make(i);
}

/** One configuration: how its servers are started and whether reports are signed. */
interface Config {
  label: string;
  /** Options of the server that issues sessions. */
  sessions: Raise<typeof serverOptions>;
  /** Options of the server that takes reports (its session limit is always out of the way: set-up only). */
  reports: Raise<typeof serverOptions>;
  signed: boolean;
}

/** One measurement of a configuration, each on fresh servers: sessions issued, then reports processed. */
async function measure(config: Config): Promise<{ sessions: Load; reports: Load }> {
  const extra = config.signed ? [] : ["--insecure-unsigned"];
  // Sessions: a fresh server, so the live-session count starts at zero.
  const a = await benchServer(config.sessions, extra);
  const sessions = await drive(a.url, () => ({
    method: "POST",
    path: "/v1/sessions",
    headers: { authorization: `Bearer ${a.apiKey}` },
  }));
  await stopAll();
  // Reports: a fresh server holding LIVE_SESSIONS live sessions; creating them is set-up, so their limit is out of the way.
  const b = await benchServer(
    { ...config.reports, sessionRate: OUT_OF_THE_WAY, apiKeySessionRate: OUT_OF_THE_WAY },
    extra,
  );
  await makeSessions(b, LIVE_SESSIONS);
  const api = apiClient(b.url, { timeoutMs: REQUEST_DEADLINE_MS });
  const credentials = config.signed ? await api.enroll(await adminToken(b), "bench service") : undefined;
  // Enough for ~16,000 requests a second (429s come fast); past them the generator signs on the fly.
  const expected = Math.ceil(((MEASURE_MS + WARMUP_MS) / 1000) * 16_000);
  const reports = await drive(b.url, reportCalls(b, credentials, config.signed ? Math.min(expected, 60_000) : 1000));
  await stopAll();
  return { sessions, reports };
}

/** Sign and verify one report-sized request many times in this process: the HMAC's cost without HTTP. */
async function hmacCost(): Promise<{ signUs: number; verifyUs: number }> {
  const credentials = {
    serviceId: "benchservice01",
    key: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url"),
  };
  const body = JSON.stringify({
    process: FAKE_PROCESS,
    claim: { strategy: "server-match", observed: randomPorts({ start: 29170, end: 29233 }, 12), failed: [] },
  });
  const n = 20_000;
  const signed: Array<Record<string, string>> = [];
  let t = performance.now();
  for (let i = 0; i < n; i++) signed.push(signRequest(credentials, { method: "POST", path: "/v1/reports", body }));
  const signUs = ((performance.now() - t) * 1000) / n;
  const seen = new Set<string>();
  const context = {
    keyOf: () => credentials.key,
    windowMs: 60_000,
    remember: (s: string, nonce: string) => !seen.has(nonce) && !!seen.add(nonce),
  };
  const requests = signed.map((h) => ({ method: "POST", path: "/v1/reports", headers: new Headers(h), body }));
  t = performance.now();
  for (const request of requests) await verifyRequest(context, request);
  const verifyUs = ((performance.now() - t) * 1000) / n;
  return { signUs, verifyUs };
}

const perSecond = (load: Load, status: (s: number) => boolean) =>
  [...load.statuses].filter(([s]) => status(s)).reduce((sum, [, n]) => sum + n, 0) / load.seconds;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2;
};
const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1));
/** The median over rounds, with the lowest and highest when they differ: the machine is shared, so the spread matters. */
const spread = (xs: number[]) =>
  Math.min(...xs) === Math.max(...xs)
    ? fmt(xs[0]!)
    : `${fmt(median(xs))} (${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))})`;
const others = (load: Load, expected: number[]) =>
  [...load.statuses].filter(([s]) => !expected.includes(s)).map(([s, n]) => `${n}x ${s === 0 ? "no answer" : s}`);

const CONFIGS: Config[] = [
  { label: "(a) signed, default limits", sessions: {}, reports: {}, signed: true },
  { label: "(b) signed, limits raised", sessions: RAISED, reports: RAISED, signed: true },
  { label: "(c) unsigned, limits raised", sessions: RAISED, reports: RAISED, signed: false },
];

try {
  const hmac = await hmacCost();
  const results = CONFIGS.map(() => [] as Array<{ sessions: Load; reports: Load }>);
  // Rounds interleave the configurations, so a burst of load from elsewhere does not fall on one column only.
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, config] of CONFIGS.entries()) results[i]!.push(await measure(config));
  }
  const cells = (pick: (r: { sessions: Load; reports: Load }) => number) => results.map((rs) => spread(rs.map(pick)));
  const row = (name: string, values: string[]) =>
    `| ${name.padEnd(36)} | ${values.map((c) => c.padStart(27)).join(" | ")} |`;
  console.log(
    `\nServer throughput, ${CONNECTIONS} keep-alive connections from this process to 127.0.0.1, ${MEASURE_MS / 1000} s per cell after ${WARMUP_MS} ms warm-up,`,
  );
  console.log(
    `median (min-max) of ${ROUNDS} rounds; the load generator shares the machine's cores with the server; reports are random codes against ${LIVE_SESSIONS} live sessions\n`,
  );
  console.log(
    row(
      "per second",
      CONFIGS.map((c) => c.label),
    ),
  );
  console.log(`|${"-".repeat(38)}|${CONFIGS.map(() => "-".repeat(29)).join("|")}|`);
  console.log(
    row(
      "sessions issued (201)",
      cells((r) => perSecond(r.sessions, (s) => s === 201)),
    ),
  );
  console.log(
    row(
      "  sessions refused (429)",
      cells((r) => perSecond(r.sessions, (s) => s === 429)),
    ),
  );
  console.log(
    row(
      "  issued in the 1st s",
      cells((r) => r.sessions.okPerSecond[0]!),
    ),
  );
  console.log(
    row(
      "  issued in the last s",
      cells((r) => r.sessions.okPerSecond.at(-1)!),
    ),
  );
  console.log(
    row(
      "reports processed (200, no match)",
      cells((r) => perSecond(r.reports, (s) => s === 200)),
    ),
  );
  console.log(
    row(
      "  reports refused (429)",
      cells((r) => perSecond(r.reports, (s) => s === 429)),
    ),
  );
  console.log(
    `\nHMAC-SHA256 of one report-sized request, in this process: sign ${hmac.signUs.toFixed(1)} µs, verify ${hmac.verifyUs.toFixed(1)} µs ` +
      `(verify alone: ${fmt(1e6 / hmac.verifyUs)}/s on one core)`,
  );
  for (const [i, config] of CONFIGS.entries()) {
    const flags = [
      ...optionFlags(serverOptions, config.sessions).said,
      ...(config.signed ? [] : ["--insecure-unsigned"]),
    ];
    console.log(`${config.label}: ${flags.join(", ") || "every option at its default"}`);
    if (!config.reports.sessionRate)
      console.log(`  (its report server raises --session-rate only to set up the ${LIVE_SESSIONS} live sessions)`);
    const odd = results[i]!.flatMap((r) => [...others(r.sessions, [201, 429]), ...others(r.reports, [200, 429])]);
    if (odd.length) console.log(`  unexpected answers: ${odd.join(", ")}`);
  }
} finally {
  await stopAll();
}
