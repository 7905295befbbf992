// Time from the page's call to link() to the confirmed link, in headless Chromium and Firefox, per transport.
// Run: bun run bench (all benches) or node_modules/.bin/bun bench/browser.ts [runs]. Browser start-up is excluded.
import { silentLogger } from "../src/lib/log.ts";
import { bindFailureStrategies } from "../plugins/bind-failure/index.ts";
import { findFreeRange } from "../src/lib/ports.ts";
import { startServer } from "../src/server/index.ts";
import { startService } from "../src/service/index.ts";
import { linkInPage } from "../test/browser/page.ts";
import { type BrowserKind, type LaunchedBrowser, launchBrowser } from "../test/browser/launch.ts";

const RUNS = Number(process.argv[2] ?? 30);
const TRANSPORTS = ["fetch", "https", "ws", "wss"];
/** Between runs: longer than the service's 1 s retry window, so each run stands alone, as a user's would. */
const GAP_MS = 1100;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2 : Number.NaN;
};

const server = await startServer(
  {
    host: "127.0.0.1", port: 0, range: findFreeRange(64), shape: { tuples: 3, portsPerTuple: 4 }, ttlMs: 30_000, settleMs: 2, idleMs: 250,
    bindFailure: bindFailureStrategies["server-match"], maxMissing: 4, maxFailed: 16, maxCompletions: 2048, maxLiveSessions: 1000, maxWaitMs: 30_000, maxInstructions: 16,
  },
  silentLogger,
);
const service = await startService({ server: server.url }, silentLogger);
const rows: string[] = [];
const denied: string[] = [];
let launched: LaunchedBrowser | undefined;
try {
  for (const kind of ["chromium", "firefox"] as BrowserKind[]) {
    launched = await launchBrowser(kind);
    const page = await launched.browser.newPage();
    for (const transport of TRANSPORTS) {
      const times: number[] = [];
      let failed = 0;
      for (let i = 0; i <= RUNS; i++) {
        await page.goto(`${server.url}/?auto=0`);
        const r = await linkInPage(page, `${server.url}/pkipc.js`, { transport, timeoutMs: 5000 });
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
      await pub.goto(`${server.url}/?auto=0`);
      const r = await linkInPage(pub, `${server.url}/pkipc.js`, { transport, timeoutMs: 5000 });
      cells.push(r.ok ? "links" : "no");
      await Bun.sleep(GAP_MS);
    }
    denied.push(`| ${kind.padEnd(8)} | ${cells.map((c) => c.padEnd(5)).join(" | ")} |`);
    await launched.close();
    launched = undefined;
  }
} finally {
  await launched?.close();
  await service.stop();
  await server.stop();
}
console.log(`\nTime to link from the page's link() call, median of ${RUNS} runs (after one warm-up), headless:\n`);
console.log("| browser  | transport | median | runs |\n|---|---|---|---|");
console.log(rows.join("\n"));
console.log("\nPublic page, Local Network Access permission denied: does each transport link?\n");
console.log(`| browser  | ${TRANSPORTS.join(" | ")} |\n|---|${TRANSPORTS.map(() => "---").join("|")}|`);
console.log(denied.join("\n"));
