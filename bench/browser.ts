// Time from the page's call to link() to the confirmed link, in headless Chromium and Firefox and in WebKitGTK's MiniBrowser (under Xvfb), per transport.
// Run: bun run bench (all benches) or node_modules/.bin/bun bench/browser.ts [runs]. Browser start-up is excluded.
// BENCH_BROWSERS=firefox,webkit and BENCH_TRANSPORTS=wss,https narrow it (each browser is fresh for its first transport).
// Server and service are the compiled binary, the service enrolled with a token from `pkipc admin token`.
import type { Page } from "puppeteer-core";
import { makeCertificate } from "../test/browser/fixtures.ts";
import { linkInPage } from "../test/browser/page.ts";
import { type BrowserKind, launchBrowser } from "../test/browser/launch.ts";
import { launchWebKit, linkInWebKit } from "../test/browser/webkit.ts";
import { benchServer, benchService, printRaised, stopAll } from "./fixtures.ts";

type BenchKind = BrowserKind | "webkit";
const RUNS = Number(process.argv[2] ?? 30);
const TRANSPORTS = process.env.BENCH_TRANSPORTS?.split(",") ?? ["fetch", "https", "ws", "wss"];
const KINDS = (process.env.BENCH_BROWSERS?.split(",") ?? ["chromium", "firefox", "webkit"]) as BenchKind[];
/** Between runs: longer than the service's 1 s retry window, so each run stands alone, as a user's would. */
const GAP_MS = 1100;
/** A page that has not linked by then is counted as not linked (link() gives up at 5 s itself). */
const PAGE_DEADLINE_MS = 15_000;
/** The names the service sees for each browser's knocking process (WebKit knocks from its network process). */
const PROCESS_NAMES: Record<BenchKind, string[]> = { chromium: ["chromium"], firefox: ["firefox-esr"], webkit: ["WebKitNetworkProcess"] };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2 : Number.NaN;
};

/** One tab of a running browser: loads the demo page without linking, then runs link() in it. */
interface BenchTab {
  link(url: string, transport: string): Promise<{ ok: boolean; timeToLinkMs?: number }>;
  close(): Promise<void>;
}

/** A fresh browser with one tab; `publicPorts` (Chromium, Firefox) makes pages on those ports public, so Local Network Access applies. */
async function openTab(kind: BenchKind, publicPorts?: number[], options: { acceptInsecureCerts?: boolean } = {}): Promise<BenchTab> {
  if (kind === "webkit") {
    const launched = await launchWebKit(options);
    return {
      async link(url, transport) {
        await launched.session.goto(`${url}/?auto=0`, PAGE_DEADLINE_MS);
        return linkInWebKit(launched.session, `${url}/pkipc.js`, { transport, timeoutMs: 5000 });
      },
      close: () => launched.close(),
    };
  }
  const launched = await launchBrowser(kind, publicPorts ? { publicPorts } : {});
  const page: Page = await launched.browser.newPage();
  return {
    async link(url, transport) {
      await page.goto(`${url}/?auto=0`, { timeout: PAGE_DEADLINE_MS });
      return linkInPage(page, `${url}/pkipc.js`, { transport, timeoutMs: 5000 });
    },
    close: () => launched.close(),
  };
}

/** link() in the tab, bounded: a page that hangs (a stuck navigation, a dead browser) fails this run only. */
async function linkOnce(tab: BenchTab, url: string, transport: string) {
  let timer: Timer | undefined;
  const deadline = new Promise<{ ok: false; timeToLinkMs?: number }>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false }), PAGE_DEADLINE_MS);
  });
  try {
    const run = tab.link(url, transport).catch(() => ({ ok: false as const, timeToLinkMs: undefined }));
    return await Promise.race([run, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const rows: string[] = [];
const denied: string[] = [];
const securePage: string[] = [];
let tab: BenchTab | undefined;

/** RUNS timed links per transport in `tab` against `url`, one table row each (after a warm-up run). */
async function timeTransports(label: string, tab: BenchTab, url: string, transports: string[], into: string[]): Promise<void> {
  for (const transport of transports) {
    const times: number[] = [];
    let failed = 0;
    for (let i = 0; i <= RUNS; i++) {
      const r = await linkOnce(tab, url, transport);
      // The first run warms the service's caches (the browser's version, its pid): not counted.
      if (i > 0) r.ok ? times.push(r.timeToLinkMs!) : failed++;
      await Bun.sleep(GAP_MS);
    }
    into.push(`| ${label.padEnd(8)} | ${transport.padEnd(5)} | ${times.length ? median(times).toFixed(0).padStart(6) : "     -"} ms | ${String(times.length).padStart(2)}/${RUNS} linked${failed ? `, ${failed} not` : ""} |`);
    console.error(into.at(-1));
  }
}

try {
  // One browser process knocks every run (124 per browser, one every ~1.2 s): past the service's
  // per-process budget (0.5/s, bursts of 6) its bursts would be dropped. The server's limits sit
  // close to this pace (a retry makes a second report), so they are raised too.
  const raised = "1000,1000";
  const serverLimits = { maxSessions: "1000", sessionRate: raised, readRate: raised, serviceReportRate: raised, addressReportRate: raised };
  const serviceLimits = { allowProcesses: Object.values(PROCESS_NAMES).flat().join(","), processReportRate: raised };
  const server = await benchServer(serverLimits);
  const service = await benchService(server, serviceLimits);
  printRaised(server, service);
  for (const kind of KINDS) {
    tab = await openTab(kind);
    await timeTransports(kind, tab, server.url, TRANSPORTS, rows);
    await tab.close();
    tab = undefined;
    if (kind === "webkit") {
      // WebKit has no Local Network Access (no permission, no switch to make a loopback page public),
      // but blocks http: and ws: to loopback from a secure page: time its TLS knocks from an https page.
      const tls = await makeCertificate();
      process.env.NODE_EXTRA_CA_CERTS = tls.certFile; // the service (started next) trusts the test server
      const secure = await benchServer(serverLimits, ["--tls-cert", tls.certFile, "--tls-key", tls.keyFile]);
      await benchService(secure, serviceLimits);
      tab = await openTab(kind, undefined, { acceptInsecureCerts: true });
      await timeTransports(kind, tab, secure.url, TRANSPORTS.filter((t) => t === "https" || t === "wss"), securePage);
      await tab.close();
      tab = undefined;
      continue;
    }
    tab = await openTab(kind, [server.port]);
    const cells: string[] = [];
    for (const transport of TRANSPORTS) {
      const r = await linkOnce(tab, server.url, transport);
      cells.push(r.ok ? "links" : "no");
      await Bun.sleep(GAP_MS);
    }
    denied.push(`| ${kind.padEnd(8)} | ${cells.map((c) => c.padEnd(5)).join(" | ")} |`);
    await tab.close();
    tab = undefined;
  }
  const dropped = service.lines.filter((l) => /too many|RATE_LIMITED|not an allowed|report failed/.test(l));
  if (dropped.length) console.log(`service log: ${dropped.length} lines about limits, the allow-list or failed reports (expected none), first: ${dropped[0]}`);
} finally {
  await tab?.close();
  await stopAll();
}
console.log(`\nTime to link from the page's link() call, median of ${RUNS} runs (after one warm-up), headless:\n`);
console.log("| browser  | transport | median | runs |\n|---|---|---|---|");
console.log(rows.join("\n"));
console.log("\nPublic page, Local Network Access permission denied: does each transport link?\n");
console.log(`| browser  | ${TRANSPORTS.join(" | ")} |\n|---|${TRANSPORTS.map(() => "---").join("|")}|`);
console.log(denied.join("\n"));
if (securePage.length) {
  console.log(`\nWebKit, https page (http: and ws: to loopback are blocked there as mixed content), median of ${RUNS} runs:\n`);
  console.log("| browser  | transport | median | runs |\n|---|---|---|---|");
  console.log(securePage.join("\n"));
}
