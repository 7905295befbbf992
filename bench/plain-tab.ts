// A browser with no driver attached, for timing links as a user's browser makes them: the page is a harness of
// this bench, on an origin of its own (as a SaaS page is), which takes each run from the bench and posts back
// what it did.
//
// Why: puppeteer enables the DevTools Network domain on every page it opens (WebDriver BiDi likewise subscribes
// to Firefox's network events), so each request the page makes is also an event serialised to the driver.
// Measured on the 2-core machine (a page's fetch of a loopback server, then twelve cors fetches at once to
// loopback listeners, 6 runs each, 2026-12-07), a fetch round trip took 3.0-4.7 ms in Chromium under puppeteer and 1.6-2.5 ms with nothing attached, 4-9 ms in Firefox under
// puppeteer and 1-3 ms without; twelve knocks' heads were all in by 9-18 ms against 4-8 ms.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Browser, createProfile } from "@puppeteer/browsers";
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
  /** Runs one job in a freshly loaded harness page; resolves with what the page posted (or `onLate` after `deadlineMs`). */
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
 * Serves the harness page on a free loopback port. `script` runs in the page, as puppeteer's evaluate would
 * run it: `script(moduleUrl, opts, backend)` resolves with the run's result, which the page posts back.
 * The page reloads itself after each run, so every run starts in a fresh page, as under puppeteer.
 */
export function startHarness(script: (...args: any[]) => Promise<unknown>): Harness {
  let pending: { job: HarnessJob; resolve(result: unknown): void } | undefined;
  let waiting: ((job: HarnessJob | null) => void) | undefined;
  const page = `<!doctype html><meta charset="utf-8"><title>pkipc bench harness</title><script type="module">
const run = ${script.toString()};
const job = await (await fetch("/job", { cache: "no-store" })).json();
if (job) {
  const result = await run(job.moduleUrl, job.opts, job.backend).catch((e) => ({ ok: false, message: String(e), marks: {} }));
  await fetch("/result", { method: "POST", body: JSON.stringify(result) });
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
        // Answered at once when a run waits, else held until one is queued (or null after JOB_WAIT_MS: the page stops asking).
        const job =
          pending?.job ??
          (await new Promise<HarnessJob | null>((resolve) => {
            waiting = resolve;
            setTimeout(() => resolve(null), JOB_WAIT_MS);
          }));
        waiting = undefined;
        return Response.json(job);
      }
      if (pathname === "/result" && request.method === "POST") {
        const result = await request.json();
        const done = pending;
        pending = undefined;
        done?.resolve(result);
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
      const profile = mkdtempSync(join(tmpdir(), `pkipc-plain-${kind}-`));
      // Firefox gets puppeteer's own preferences for a quiet profile (no updates, telemetry, captive-portal
      // or Safe Browsing requests): only the page's own requests leave the browser, all to loopback.
      if (kind === "firefox") await createProfile(Browser.FIREFOX, { path: profile, preferences: {} });
      const url = `${origin}/`;
      const argv =
        kind === "chromium"
          ? [BROWSER_BINARIES.chromium, "--headless", ...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, url]
          : [BROWSER_BINARIES.firefox, "--headless", "--no-remote", "--profile", profile, url];
      // setsid: the browser leads its own process group, so every process it starts is stopped with it.
      const child: Subprocess = Bun.spawn(["setsid", ...argv], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
      let closed = false;
      return {
        run(job, deadlineMs, onLate) {
          return new Promise<R>((resolve) => {
            const timer = setTimeout(() => {
              pending = undefined;
              resolve(onLate());
            }, deadlineMs);
            pending = {
              job,
              resolve: (result) => {
                clearTimeout(timer);
                resolve(result as R);
              },
            };
            waiting?.(job);
          });
        },
        async close() {
          if (closed) return;
          closed = true;
          for (const target of [-child.pid, child.pid]) {
            try {
              process.kill(target, "SIGKILL");
            } catch {
              // already gone
            }
          }
          await Promise.race([child.exited, Bun.sleep(3000)]);
          rmSync(profile, { recursive: true, force: true });
        },
      };
    },
    stop: () => server.stop(true),
  };
}
