// A browser with no driver attached, for timing links as a user's browser makes them: the page is a harness of
// this bench, on an origin of its own (as a SaaS page is), which takes each run from the bench and posts back
// what it did.
//
// Why: puppeteer enables the DevTools Network domain on every page it opens (WebDriver BiDi likewise subscribes
// to Firefox's network events), so each request the page makes is also an event serialised to the driver.
// Measured on the 2-core machine (a page's fetch of a loopback server, then twelve cors fetches at once to
// loopback listeners, 6 runs each, 2026-12-07), a fetch round trip took 3.0-4.7 ms in Chromium under
// puppeteer and 1.6-2.5 ms with nothing attached, 4-9 ms in Firefox under puppeteer and 1-3 ms without;
// twelve knocks' heads were all in by 9-18 ms against 4-8 ms. The browsers get the arguments and preferences
// puppeteer would give them, so the driver is the one difference.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Browser, createProfile } from "@puppeteer/browsers";
import puppeteer from "puppeteer-core";
import type { Subprocess } from "bun";
import { BROWSER_BINARIES, CHROMIUM_FLAGS, type BrowserKind } from "../test/browser/launch.ts";

/** One run for the page: the module to import, link()'s options, and the backend to ask for a session (a click). */
export interface HarnessJob {
  moduleUrl: string;
  opts: { transport?: string; timeoutMs: number };
  backend?: string;
}

/** A tab of a browser started with nothing attached, running the harness page. */
export interface PlainTab<R> {
  /**
   * Runs one job in a freshly loaded harness page; resolves with what the page posted, or with `onLate()`
   * after `deadlineMs`, when the browser is started again so the next run does not inherit a stuck page.
   */
  run(job: HarnessJob, deadlineMs: number, onLate: () => R): Promise<R>;
  close(): Promise<void>;
}

export interface Harness {
  /** The harness page's origin, e.g. http://127.0.0.1:40123: the server must allow it, and the backend's key name it. */
  origin: string;
  open<R>(kind: BrowserKind): Promise<PlainTab<R>>;
  stop(): void;
}

/** How long the page's request for its next job is held (the bench hands one out between runs). */
const JOB_WAIT_MS = 60_000;

/**
 * Firefox preferences for a profile that sends nothing off loopback. puppeteer's profile defaults leave some
 * services on that Firefox's remote agent turns off only when a driver attaches (captive-portal and
 * connectivity checks, region lookup, sponsored tiles, add-on and settings updates, push, DNS over HTTPS).
 */
const QUIET_FIREFOX: Record<string, unknown> = {
  "network.captive-portal-service.enabled": false,
  "network.connectivity-service.enabled": false,
  "browser.region.network.url": "",
  "browser.region.update.enabled": false,
  "browser.topsites.contile.enabled": false,
  "browser.newtabpage.activity-stream.feeds.topsites": false,
  "browser.newtabpage.activity-stream.showSponsoredTopSites": false,
  "extensions.systemAddon.update.enabled": false,
  "extensions.blocklist.enabled": false,
  "services.settings.server": "http://127.0.0.1:9/",
  "toolkit.telemetry.server": "http://127.0.0.1:9/",
  "toolkit.telemetry.enabled": false,
  "browser.ping-centre.telemetry": false,
  "dom.push.connection.enabled": false,
  "network.trr.mode": 5,
  "network.dns.disablePrefetch": true,
  "network.prefetch-next": false,
  "app.update.auto": false,
  "app.update.enabled": false,
};

/** Chromium's arguments as puppeteer launches it, less the automation switch (no driver will attach). */
async function chromiumArgs(profile: string, url: string): Promise<string[]> {
  const defaults = await puppeteer.defaultArgs({ headless: true, userDataDir: profile, browser: "chrome" } as never);
  const args = defaults.filter((a) => a !== "--enable-automation" && a !== "about:blank");
  for (const flag of CHROMIUM_FLAGS) if (!args.includes(flag)) args.push(flag);
  return [BROWSER_BINARIES.chromium, ...args, url];
}

/**
 * Serves the harness page on a free loopback port. `script` runs in the page, as puppeteer's evaluate would
 * run it: `script(moduleUrl, opts, backend)` resolves with the run's result, which the page posts back with
 * its job's id. The page reloads itself after each run, so every run starts in a fresh page, as under puppeteer.
 */
export function startHarness(script: (...args: any[]) => Promise<unknown>): Harness {
  let nextId = 0;
  /** The job being run, until its result comes or its deadline passes. */
  let pending: { id: number; job: HarnessJob; resolve(result: unknown): void } | undefined;
  /** The page's request for a job, held until one is queued; one at a time (a newer request replaces it). */
  let waiting: { give(job: unknown): void } | undefined;
  const page = `<!doctype html><meta charset="utf-8"><title>pkipc bench harness</title><script type="module">
const run = ${script.toString()};
const job = await (await fetch("/job", { cache: "no-store" })).json();
if (job) {
  const result = await run(job.moduleUrl, job.opts, job.backend).catch((e) => ({ ok: false, message: String(e), marks: {} }));
  await fetch("/result", { method: "POST", body: JSON.stringify({ id: job.id, result }) });
  location.reload();
}
</script>`;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 120,
    async fetch(request) {
      const { pathname } = new URL(request.url);
      if (pathname === "/job") {
        // A job waiting now goes at once (a page that reloaded mid-run would run it twice: the deadline ends that
        // run, and its late result is ignored by id). Else held until one is queued, or null after JOB_WAIT_MS.
        if (pending) return Response.json({ id: pending.id, ...pending.job });
        const job = await new Promise<unknown>((resolve) => {
          const timer = setTimeout(() => give(null), JOB_WAIT_MS);
          const give = (value: unknown) => {
            clearTimeout(timer);
            if (waiting === mine) waiting = undefined;
            resolve(value);
          };
          const mine = { give };
          waiting?.give(null); // an older request (a page that went away) stops asking
          waiting = mine;
        });
        return Response.json(job);
      }
      if (pathname === "/result" && request.method === "POST") {
        const { id, result } = (await request.json()) as { id: number; result: unknown };
        // A result of a run whose deadline passed is not the current run's.
        if (pending && id === pending.id) {
          const done = pending;
          pending = undefined;
          done.resolve(result);
        }
        return new Response(null, { status: 204 });
      }
      if (pathname === "/") return new Response(page, { headers: { "content-type": "text/html; charset=utf-8" } });
      return new Response(null, { status: 404 });
    },
  });
  const origin = `http://127.0.0.1:${server.port}`;

  return {
    origin,
    async open<R>(kind: BrowserKind): Promise<PlainTab<R>> {
      let child: Subprocess | undefined;
      let profile = "";
      const url = `${origin}/`;
      const launch = async () => {
        profile = mkdtempSync(join(tmpdir(), `pkipc-plain-${kind}-`));
        if (kind === "firefox") await createProfile(Browser.FIREFOX, { path: profile, preferences: QUIET_FIREFOX });
        const argv =
          kind === "chromium"
            ? await chromiumArgs(profile, url)
            : [BROWSER_BINARIES.firefox, "--headless", "--no-remote", "--profile", profile, url];
        // setsid: the browser leads its own process group, so every process it starts is stopped with it.
        child = Bun.spawn(["setsid", ...argv], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
      };
      const kill = async () => {
        const running = child;
        child = undefined;
        if (running) {
          for (const target of [-running.pid, running.pid]) {
            try {
              process.kill(target, "SIGKILL");
            } catch {
              // already gone
            }
          }
          await Promise.race([running.exited, Bun.sleep(3000)]);
        }
        if (profile) rmSync(profile, { recursive: true, force: true });
        profile = "";
      };
      await launch();
      let closed = false;
      return {
        run(job, deadlineMs, onLate) {
          return new Promise<R>((resolve) => {
            const id = ++nextId;
            const timer = setTimeout(async () => {
              if (pending?.id === id) pending = undefined;
              // A page that did not answer may be stuck: the next run gets a fresh browser.
              await kill();
              if (!closed) await launch();
              resolve(onLate());
            }, deadlineMs);
            pending = {
              id,
              job,
              resolve: (result) => {
                clearTimeout(timer);
                resolve(result as R);
              },
            };
            waiting?.give({ id, ...job });
          });
        },
        async close() {
          if (closed) return;
          closed = true;
          await kill();
        },
      };
    },
    stop() {
      waiting?.give(null);
      server.stop(true);
    },
  };
}
