// Time from the page's call to link() to the confirmed link, in headless Chromium and Firefox, per transport.
// Run: bun run bench (all benches) or node_modules/.bin/bun bench/browser.ts [runs]. Browser start-up is excluded.
// BENCH_BROWSERS=firefox and BENCH_TRANSPORTS=wss,https narrow it (each browser is fresh for its first transport).
// Server and service are the compiled binary, the service enrolled with a token from `pkipc admin token`.
import type { Page } from "puppeteer-core";
import { linkInPage } from "../test/browser/page.ts";
import { type BrowserKind, type LaunchedBrowser, launchBrowser } from "../test/browser/launch.ts";
import { benchServer, benchService, printRaised, stopAll } from "./fixtures.ts";

const RUNS = Number(process.argv[2] ?? 30);
const TRANSPORTS = process.env.BENCH_TRANSPORTS?.split(",") ?? ["fetch", "https", "ws", "wss"];
const KINDS = (process.env.BENCH_BROWSERS?.split(",") ?? ["chromium", "firefox"]) as BrowserKind[];
/** Between runs: longer than the service's 1 s retry window, so each run stands alone, as a user's would. */
const GAP_MS = 1100;
/** A page that has not linked by then is counted as not linked (link() gives up at 5 s itself). */
const PAGE_DEADLINE_MS = 15_000;
const BROWSERS: Record<BrowserKind, string> = { chromium: "chromium", firefox: "firefox-esr" };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2 : Number.NaN;
};

/** link() in the page, bounded: a page that hangs (a stuck navigation, a dead browser) fails this run only. */
async function linkOnce(page: Page, url: string, transport: string) {
  let timer: Timer | undefined;
  const deadline = new Promise<{ ok: false; timeToLinkMs?: number }>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false }), PAGE_DEADLINE_MS);
  });
  try {
    const run = (async () => {
      await page.goto(`${url}/?auto=0`, { timeout: PAGE_DEADLINE_MS });
      return linkInPage(page, `${url}/pkipc.js`, { transport, timeoutMs: 5000 });
    })().catch(() => ({ ok: false as const, timeToLinkMs: undefined }));
    return await Promise.race([run, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const rows: string[] = [];
const denied: string[] = [];
let launched: LaunchedBrowser | undefined;
try {
  // One browser process knocks every run (124 per browser, one every ~1.2 s): past the service's
  // per-process budget (0.5/s, bursts of 6) its bursts would be dropped. The server's limits sit
  // close to this pace (a retry makes a second report), so they are raised too.
  const raised = "1000,1000";
  const server = await benchServer({ maxSessions: "1000", sessionRate: raised, readRate: raised, serviceReportRate: raised, addressReportRate: raised });
  const service = await benchService(server, { allowProcesses: Object.values(BROWSERS).join(","), processReportRate: raised });
  printRaised(server, service);
  for (const kind of KINDS) {
    launched = await launchBrowser(kind);
    const page = await launched.browser.newPage();
    for (const transport of TRANSPORTS) {
      const times: number[] = [];
      let failed = 0;
      for (let i = 0; i <= RUNS; i++) {
        const r = await linkOnce(page, server.url, transport);
        // The first run warms the service's caches (the browser's version, its pid): not counted.
        if (i > 0) r.ok ? times.push(r.timeToLinkMs!) : failed++;
        await Bun.sleep(GAP_MS);
      }
      rows.push(`| ${kind.padEnd(8)} | ${transport.padEnd(5)} | ${times.length ? median(times).toFixed(0).padStart(6) : "     -"} ms | ${String(times.length).padStart(2)}/${RUNS} linked${failed ? `, ${failed} not` : ""} |`);
      console.error(rows.at(-1));
    }
    await launched.close();
    launched = await launchBrowser(kind, { publicPorts: [server.port] });
    const pub = await launched.browser.newPage();
    const cells: string[] = [];
    for (const transport of TRANSPORTS) {
      const r = await linkOnce(pub, server.url, transport);
      cells.push(r.ok ? "links" : "no");
      await Bun.sleep(GAP_MS);
    }
    denied.push(`| ${kind.padEnd(8)} | ${cells.map((c) => c.padEnd(5)).join(" | ")} |`);
    await launched.close();
    launched = undefined;
  }
  const dropped = service.lines.filter((l) => /too many|RATE_LIMITED|not an allowed|report failed/.test(l));
  if (dropped.length) console.log(`service log: ${dropped.length} lines about limits, the allow-list or failed reports (expected none), first: ${dropped[0]}`);
} finally {
  await launched?.close();
  await stopAll();
}
console.log(`\nTime to link from the page's link() call, median of ${RUNS} runs (after one warm-up), headless:\n`);
console.log("| browser  | transport | median | runs |\n|---|---|---|---|");
console.log(rows.join("\n"));
console.log("\nPublic page, Local Network Access permission denied: does each transport link?\n");
console.log(`| browser  | ${TRANSPORTS.join(" | ")} |\n|---|${TRANSPORTS.map(() => "---").join("|")}|`);
console.log(denied.join("\n"));
