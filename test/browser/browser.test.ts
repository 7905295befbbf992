// The browser module and demo page in real headless Chromium and Firefox: link, identity, tabs, other origins, https, denied LNA.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "puppeteer-core";
import { backendApi, onCleanup, ROOT, spawnPkipc, testServer, testService, watchLines } from "../helpers.ts";
import { apiClient } from "../../src/protocol/api-client.ts";
import { startDemoSaas } from "../../src/demo/saas.ts";
import { findFreeRange } from "../../src/lib/ports.ts";
import { binaryServer, binaryService, makeCertificate, otherOrigin } from "./fixtures.ts";
import { linkInPage } from "./page.ts";
import { type BrowserKind, type LaunchedBrowser, launchBrowser } from "./launch.ts";

const RESULTS = join(ROOT, ".test-results");
const TRANSPORTS = ["fetch", "https", "ws", "wss"] as const;
const myUid = process.getuid!();
/** The user name of this test's uid, as /etc/passwd has it (what the service reports). */
const me =
  readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.split(":")[2] === String(myUid))
    ?.split(":")[0] ?? String(myUid);

/** The process group of a pid: puppeteer starts the browser as a group leader, and /usr/bin/chromium is a wrapper script. */
function groupOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
}

/** Waits for the demo page to finish and returns its state and status line. */
async function demoOutcome(page: Page): Promise<{ state: string; status: string }> {
  await page.waitForFunction(() => ["linked", "failed"].includes(document.body.dataset.state ?? ""), {
    timeout: 20_000,
  });
  return page.evaluate(() => ({
    state: document.body.dataset.state ?? "",
    status: document.getElementById("status")?.textContent ?? "",
  }));
}

/** The version puppeteer reads from the browser itself, e.g. "156.0.8078.79" of "Chrome/156.0.8078.79". */
async function versionOf(launched: LaunchedBrowser): Promise<string> {
  return (await launched.browser.version()).split("/").pop()!;
}

for (const kind of ["chromium", "firefox"] as BrowserKind[]) {
  describe(`${kind}`, () => {
    let shared: LaunchedBrowser | undefined;
    // One browser for the tests that need no special switches; launched on first use, killed by PID at the end.
    const browser = async () => (shared ??= await launchBrowser(kind, { acceptInsecureCerts: true }));
    afterAll(async () => {
      await shared?.close();
    });
    const newPage = async () => {
      const page = await (await browser()).browser.newPage();
      onCleanup(() => page.close().catch(() => {}));
      return page;
    };

    test("the demo page served by the binary links; the page sees progress only, the backend's API key sees the browser, its version, the OS user and PID", async () => {
      const server = await binaryServer();
      await testService(server.url);
      const launched = await browser();
      const page = await newPage();
      await page.setViewport({ width: 900, height: 640 });
      await page.goto(`${server.url}/`);
      const outcome = await demoOutcome(page);
      expect(outcome.state).toBe("linked");
      expect(outcome.status).toContain("shown to the SaaS backend only");
      const seen = await page.evaluate(() => (window as any).pkipcResult);
      expect(seen.process).toBeUndefined();
      const version = await versionOf(launched);
      const { process: found, origin } = await backendApi(server.url).status(seen.sessionId);
      expect(origin).toBe(server.url);
      // The browser's main process: in the group we launched, and not one of its helper processes.
      expect(groupOf(found!.browser!.pid)).toBe(launched.pid);
      expect(readFileSync(`/proc/${found!.browser!.pid}/cmdline`, "latin1")).not.toContain("--type=");
      expect(found!.browser!.version).toContain(version);
      expect(found!.browser!.name).toMatch(kind === "chromium" ? /Chromium/ : /Firefox/);
      expect(found!.user).toBe(me);
      expect(found!.uid).toBe(myUid);
    });

    test("the SaaS backend path: the backend makes the session with its API key, the page knocks, the backend sees who linked", async () => {
      const saas = startDemoSaas();
      onCleanup(() => saas.stop());
      const server = await testServer();
      server.allowOrigin(saas.url);
      saas.connect(server.url, (await server.registry.issueApiKey("saas", saas.url)).key);
      const service = await testService(server.url);
      const launched = await browser();
      const page = await newPage();
      await page.setViewport({ width: 900, height: 640 });
      await page.goto(`${saas.url}/`);
      const outcome = await demoOutcome(page);
      expect(outcome.state).toBe("linked");
      const version = await versionOf(launched);
      expect(outcome.status).toContain(version);
      expect(outcome.status).toContain(`user ${me}`);
      const result = await page.evaluate(() => (window as any).pkipcResult);
      expect(outcome.status).toContain(`PID ${result.process.browser.pid}`);
      expect(result.origin).toBe(saas.url);
      expect(groupOf(result.process.browser.pid)).toBe(launched.pid);
      expect(result.process.browser.name).toMatch(kind === "chromium" ? /Chromium/ : /Firefox/);
      // The service was told whose session it linked.
      expect(service.reports.find((r) => r.answer?.linked)?.answer?.origin).toBe(saas.url);
      mkdirSync(RESULTS, { recursive: true });
      await page.screenshot({ path: join(RESULTS, `demo-page-${kind}.png`) as `${string}.png` });
    });

    test("`pkipc demo --keep` serves the demo page to a browser, and it links", async () => {
      const child = spawnPkipc(["demo", "--keep"]);
      const out = watchLines(child.stdout);
      const url = (await out.waitFor(/^demo page (http:\/\/\S+)/, 30_000))[1]!;
      const page = await newPage();
      await page.goto(url);
      const outcome = await demoOutcome(page);
      expect(outcome.state).toBe("linked");
      expect(outcome.status).toContain(`user ${me}`);
      child.kill("SIGTERM");
      expect(await child.exited).toBe(0);
    });

    test("two tabs knocking at once both link, each to its own session", async () => {
      const server = await testServer();
      await testService(server.url);
      const [a, b] = [await newPage(), await newPage()];
      await Promise.all([a.goto(`${server.url}/?auto=0`), b.goto(`${server.url}/?auto=0`)]);
      const [ra, rb] = await Promise.all([
        linkInPage(a, `${server.url}/pkipc.js`),
        linkInPage(b, `${server.url}/pkipc.js`),
      ]);
      expect(ra).toMatchObject({ ok: true });
      expect(rb).toMatchObject({ ok: true });
      expect(ra.sessionId).not.toBe(rb.sessionId);
      const [sa, sb] = [
        await backendApi(server.url).status(ra.sessionId!),
        await backendApi(server.url).status(rb.sessionId!),
      ];
      expect([sa.state, sb.state]).toEqual(["linked", "linked"]);
      // All tabs of one browser knock from the same process.
      expect(sa.process?.pid).toBe(sb.process!.pid);
    });

    test("the module embedded in a page of an allowed other origin links with a session of its own", async () => {
      const server = await testServer();
      await testService(server.url);
      const saas = otherOrigin(`<!doctype html><title>saas</title><script type="module">
        import { link } from "${server.url}/pkipc.js";
        window.outcome = link().then((r) => ({ ok: true, sessionId: r.sessionId, process: r.process ?? null }), (e) => ({ ok: false, message: e.message }));
      </script>`);
      server.allowOrigin(saas);
      const page = await newPage();
      await page.goto(`${saas}/`);
      await page.waitForFunction(() => (window as any).outcome, { timeout: 10_000 });
      const outcome = await page.evaluate(() => (window as any).outcome);
      expect(outcome).toMatchObject({ ok: true, process: null });
      const status = await apiClient(server.url, {
        apiKey: (await server.registry.issueApiKey("saas", saas)).key,
      }).status(outcome.sessionId);
      expect(status.origin).toBe(saas);
      expect(groupOf(status.process!.browser!.pid)).toBe((await browser()).pid);
    });

    test("ten links in a row from one page all link with the default transport, though every code reuses the same ports", async () => {
      // 13 ports, 12 per code: each link knocks nearly every port the previous ones did. Firefox delays a
      // WebSocket to an address, path and port that failed before, growing x1.5 per failure; before the
      // knocks used fresh paths, its default transport (wss) stopped linking within a few links here.
      const server = await testServer({ range: findFreeRange(13) });
      await testService(server.url, { reportsPerProcess: { perSecond: 100, burst: 100 } });
      const page = await newPage();
      await page.goto(`${server.url}/?auto=0`);
      const outcomes: string[] = [];
      for (let i = 0; i < 10; i++) {
        const r = await linkInPage(page, `${server.url}/pkipc.js`, { timeoutMs: 5000 });
        outcomes.push(r.ok ? `linked (${r.transport})` : `${r.code}: ${r.message}`);
        // Past the service's 1 s window in which a knock on a port of the last burst counts as a retry.
        await Bun.sleep(1100);
      }
      expect(outcomes.filter((o) => !o.startsWith("linked"))).toEqual([]);
    });

    test("an https page links (server with a certificate the test made)", async () => {
      const tls = await makeCertificate();
      const server = await binaryServer(tls);
      await binaryService(server.url, { NODE_EXTRA_CA_CERTS: tls.certFile });
      const page = await newPage();
      await page.goto(`${server.url}/`);
      const outcome = await demoOutcome(page);
      expect(outcome.status).toStartWith("Linked");
      expect(await page.evaluate(() => location.protocol)).toBe("https:");
    });

    test(`a public page denied Local Network Access ${kind === "firefox" ? "still links with the default transport (ws: its handshake carries the Origin before the check)" : "does not link: no knock sends a byte, so none proves the page's origin (LOCAL_NETWORK_BLOCKED)"}`, async () => {
      const server = await testServer();
      await testService(server.url);
      // A local server that answers, to show the permission is really denied to the page.
      const answering = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        fetch: () => new Response("ok", { headers: { "access-control-allow-origin": "*" } }),
      });
      onCleanup(() => answering.stop(true));
      const launched = await launchBrowser(kind, { publicPorts: [server.port] });
      onCleanup(() => launched.close());
      const page = await launched.browser.newPage();
      await page.goto(`${server.url}/?auto=0`);
      const reach = await page.evaluate(async (url) => {
        // Firefox leaves the request waiting on its permission prompt: no answer in 3 s counts as refused.
        const pending = new Promise<string>((resolve) =>
          setTimeout(() => resolve("refused: no answer within 3 s (permission prompt pending)"), 3_000),
        );
        try {
          return await Promise.race([fetch(url).then((r) => `answered ${r.status}`), pending]);
        } catch (e) {
          return `refused: ${(e as Error).message}`;
        }
      }, `http://127.0.0.1:${answering.port}/`);
      expect(reach).toStartWith("refused");

      if (kind === "firefox") {
        const byDefault = await linkInPage(page, `${server.url}/pkipc.js`);
        expect(byDefault).toMatchObject({ ok: true });
        expect(groupOf((await backendApi(server.url).status(byDefault.sessionId!)).process!.browser!.pid)).toBe(
          launched.pid,
        );
      } else {
        // Chromium sends nothing on a denied knock but a TLS hello, and neither names the page: a page of
        // any site could have made it, so the service reports none of it (docs/security.md).
        const byDefault = await linkInPage(page, `${server.url}/pkipc.js`, { timeoutMs: 3000 });
        expect(byDefault).toMatchObject({ ok: false, code: "LOCAL_NETWORK_BLOCKED" });
      }

      // Record which transports link while the permission is denied (docs/benchmarks.md quotes the table).
      const table: Record<string, string> = {};
      for (const transport of TRANSPORTS) {
        await page.goto(`${server.url}/?auto=0`); // a fresh document: no knock lock carried over
        const r = await linkInPage(page, `${server.url}/pkipc.js`, { transport, timeoutMs: 5000 });
        table[transport] = r.ok ? "links" : `does not link (${r.code})`;
      }
      mkdirSync(RESULTS, { recursive: true });
      writeFileSync(
        join(RESULTS, `lna-denied-${kind}.json`),
        `${JSON.stringify({ browser: await launched.browser.version(), reach, table }, null, 2)}\n`,
      );
      // What the README's table says: denied, Chromium links over no transport (its knocks carry no bytes, so
      // none proves the page's origin); Firefox links over ws only; every other transport ends with a code.
      const linking = Object.keys(table).filter((t) => table[t] === "links");
      expect(linking).toEqual(kind === "firefox" ? ["ws"] : []);
      for (const t of TRANSPORTS) if (!linking.includes(t)) expect(table[t]).toMatch(/^does not link \([A-Z_]+\)$/);
    });
  });
}
