// The browser's knock transports (fetch, https, ws, wss) under the transport contract (test/plugins/transport/contract.ts), in a real headless
// Chromium, from the page module the server serves: a browser test, so it runs in the full suite, not the fast lane.
import { afterAll } from "bun:test";
import type { Page } from "puppeteer-core";
import type { KnockResult, KnockTarget } from "../../src/protocol/transport.ts";
import { MODULE_JS } from "../../src/server/page/assets.ts";
import { type LaunchedBrowser, launchBrowser } from "./launch.ts";
import { type Abort, transportContract } from "../plugins/transport/contract.ts";

const NAMES = ["fetch", "https", "ws", "wss"] as const;

/** A page of its own origin that loads the bundled module at /pkipc.js, exactly as the server serves it. */
function pageServer() {
  const html = "<!doctype html><meta charset=utf-8><title>transport contract</title>";
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (request) =>
      new URL(request.url).pathname === "/pkipc.js"
        ? new Response(MODULE_JS, { headers: { "content-type": "text/javascript" } })
        : new Response(html, { headers: { "content-type": "text/html" } }),
  });
}

/** Runs in the page (sent as source text, so self-contained): one knock by the module's transport of that name. */
async function knockInPage(name: string, target: KnockTarget, abort: Abort): Promise<KnockResult> {
  const m = await import("/pkipc.js" as string);
  const signal = "already" in abort ? AbortSignal.abort() : AbortSignal.timeout(abort.afterMs);
  return m.browserTransports[name].knock(target, signal);
}

/** One Chromium and one page server for the four suites: launched on first use, killed by PID after the last. */
let shared: Promise<{ launched: LaunchedBrowser; origin: string }> | undefined;
let server: ReturnType<typeof pageServer> | undefined;
function browser() {
  shared ??= (async () => {
    server = pageServer();
    return { launched: await launchBrowser("chromium"), origin: `http://127.0.0.1:${server.port}` };
  })();
  return shared;
}
afterAll(async () => {
  await (await shared?.catch(() => undefined))?.launched.close();
  server?.stop(true);
});

for (const name of NAMES) {
  let page: Page | undefined;
  transportContract(`browser ${name}`, {
    async setup() {
      const { launched, origin } = await browser();
      const opened = await launched.browser.newPage();
      page = opened;
      await opened.goto(`${origin}/`);
      return {
        name,
        knock: (target, abort) => opened.evaluate(knockInPage, name, target, abort),
        // fetch and ws carry the page's own origin (never the one asked for); https and wss send a ClientHello, no origin.
        statedOrigin: () => (name === "fetch" || name === "ws" ? origin : undefined),
      };
    },
    async teardown() {
      await page?.close().catch(() => {});
    },
  });
}
