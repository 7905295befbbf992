// Local Network Access in real headless Chromium, Firefox and WebKit: the state the module reads, links through it, and LOCAL_NETWORK_BLOCKED.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { apiClient } from "../../src/protocol/api-client.ts";
import { onCleanup, ROOT, testServer, testService } from "../helpers.ts";
import { linkInPage } from "./page.ts";
import { type BrowserKind, launchBrowser, setLocalNetworkPermission } from "./launch.ts";
import { launchWebKit, linkInWebKit } from "./webkit.ts";

const RESULTS = join(ROOT, ".test-results");

/** The process group of a pid: puppeteer starts the browser as a group leader. */
function groupOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
}

/** What the advice names, per browser: where a user allows the site, and the policy IT can set. */
const ADVICE: Record<BrowserKind, RegExp[]> = {
  chromium: [/Apps on device/, /Site settings/, /LoopbackNetworkAllowedForUrls/, /LocalNetworkAccessAllowedForUrls/],
  firefox: [/Device apps and services/, /LocalNetworkAccess policy/, /SkipDomains/],
};

for (const kind of ["chromium", "firefox"] as BrowserKind[]) {
  describe(`${kind}, Local Network Access`, () => {
    // A SaaS page on its own origin, which the browser treats as public (so Local Network Access applies);
    // it embeds the module from the pkipc server, which lists that origin with allowOrigin.
    let saas: ReturnType<typeof Bun.serve> | undefined;
    let saasOrigin = "";
    beforeAll(() => {
      saas = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        fetch: () => new Response("<!doctype html><title>saas</title>", { headers: { "content-type": "text/html" } }),
      });
      saasOrigin = `http://127.0.0.1:${saas.port}`;
    });
    afterAll(() => {
      saas?.stop(true);
    });

    /**
     * A pkipc server that serves the SaaS origin (with a service when asked), a browser in which both
     * count as public (a real pkipc server is on the internet, not on loopback: otherwise a denied page
     * could not even load the module), and a SaaS page whose permission is set as a user's answer would.
     */
    async function setup(state: "granted" | "denied", withService: boolean) {
      const server = await testServer();
      server.allowOrigin(saasOrigin);
      if (withService) await testService(server.url);
      const launched = await launchBrowser(kind, { publicPorts: [saas!.port!, server.port] });
      onCleanup(() => launched.close());
      await setLocalNetworkPermission(launched, saasOrigin, state);
      const page = await launched.browser.newPage();
      await page.goto(`${saasOrigin}/`);
      // The SaaS backend reads who linked with its own API key (sessions belong to the origin that made them).
      const backend = apiClient(server.url, { apiKey: (await server.registry.issueApiKey("saas", saasOrigin)).key });
      return { server, launched, page, backend };
    }

    test("permission granted: the module reads granted, reports it, and links", async () => {
      const { server, launched, page, backend } = await setup("granted", true);
      const r = await linkInPage(page, `${server.url}/pkipc.js`);
      expect(r).toMatchObject({ ok: true, permission: "granted" });
      expect(r.permissionEvents).toEqual(["granted"]);
      const status = await backend.status(r.sessionId!);
      expect(status.state).toBe("linked");
      expect(groupOf(status.process!.browser!.pid)).toBe(launched.pid);
    });

    test(`permission denied: the module reads denied and knocks anyway; ${kind === "firefox" ? "the ws knocks carry the Origin before the check and link" : "the knocks land but carry no byte, so nothing proves the page and it does not link"}`, async () => {
      const { server, launched, page, backend } = await setup("denied", true);
      // A loopback server that answers, to show the denial is real: the page may not read it.
      const answering = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        fetch: () => new Response("ok", { headers: { "access-control-allow-origin": "*" } }),
      });
      onCleanup(() => answering.stop(true));
      const reach = await page.evaluate(async (url) => {
        try {
          return `answered ${(await fetch(url)).status}`;
        } catch (e) {
          return `refused: ${(e as Error).message}`;
        }
      }, `http://127.0.0.1:${answering.port}/`);
      expect(reach).toStartWith("refused");
      if (kind === "chromium") {
        const r = await linkInPage(page, `${server.url}/pkipc.js`, { timeoutMs: 3_000 });
        expect(r).toMatchObject({ ok: false, code: "LOCAL_NETWORK_BLOCKED" });
        expect(r.permissionEvents).toEqual(["denied"]);
        return;
      }
      const r = await linkInPage(page, `${server.url}/pkipc.js`);
      expect(r).toMatchObject({ ok: true, permission: "denied" });
      expect(r.permissionEvents).toEqual(["denied"]);
      const status = await backend.status(r.sessionId!);
      expect(status.state).toBe("linked");
      expect(groupOf(status.process!.browser!.pid)).toBe(launched.pid);
    });

    test("permission denied and nothing links (no service running): LOCAL_NETWORK_BLOCKED, with what the user and IT can do", async () => {
      const { server, page } = await setup("denied", false);
      const r = await linkInPage(page, `${server.url}/pkipc.js`, { timeoutMs: 3_000 });
      expect(r).toMatchObject({ ok: false, code: "LOCAL_NETWORK_BLOCKED" });
      expect(r.permissionEvents).toEqual(["denied"]);
      expect(r.message).toContain(saasOrigin);
      for (const pattern of ADVICE[kind]) expect(r.message).toMatch(pattern);
    });

    test("permission granted and no service running: NO_SERVICE, with no Local Network Access advice", async () => {
      const { server, page } = await setup("granted", false);
      const r = await linkInPage(page, `${server.url}/pkipc.js`, { timeoutMs: 10_000 });
      expect(r).toMatchObject({ ok: false, code: "NO_SERVICE" });
      expect(r.permissionEvents).toEqual(["granted"]);
      expect(r.message).toContain("is pkipc service running");
      expect(r.message).not.toMatch(/Local Network Access|Allow/);
    });

    test("the demo page shows the permission state and, when the browser blocks it and nothing links, the advice", async () => {
      const server = await testServer();
      // The demo page is served by the pkipc server itself: make that origin public and deny it.
      const demo = await launchBrowser(kind, { publicPorts: [server.port] });
      onCleanup(() => demo.close());
      await setLocalNetworkPermission(demo, server.url, "denied");
      const page = await demo.browser.newPage();
      await page.setViewport({ width: 900, height: 700 });
      await page.goto(`${server.url}/`);
      await page.waitForFunction(() => ["linked", "failed"].includes(document.body.dataset.state ?? ""), {
        timeout: 30_000,
      });
      const shown = await page.evaluate(() => ({
        state: document.body.dataset.state,
        status: document.getElementById("status")!.textContent,
        permission: document.getElementById("permission")!.dataset.state,
        permissionText: document.getElementById("permission")!.textContent,
        adviceHidden: document.getElementById("advice")!.hidden,
        advice: document.getElementById("advice")!.textContent,
        code: (window as any).pkipcResult?.code,
      }));
      expect(shown).toMatchObject({
        state: "failed",
        permission: "denied",
        adviceHidden: false,
        code: "LOCAL_NETWORK_BLOCKED",
      });
      expect(shown.status).toContain("blocked this page");
      expect(shown.permissionText).toContain("blocked");
      for (const pattern of ADVICE[kind]) expect(shown.advice).toMatch(pattern);
      mkdirSync(RESULTS, { recursive: true });
      await page.screenshot({ path: join(RESULTS, `demo-lna-blocked-${kind}.png`) as `${string}.png` });
    });
  });
}

describe("firefox, Local Network Access denied by preference", () => {
  test("a default denial set by preference is enforced but reads as prompt: no service gives NO_SERVICE, telling the user to allow the prompt", async () => {
    const server = await testServer();
    // permissions.default.loopback-network=2 is what "Block new requests to access apps and services on
    // this device" stores: Firefox enforces it (the fetch below is refused), yet navigator.permissions
    // reports "prompt" for it, since only a per-site decision shows there. So the module cannot tell a
    // default denial from an unanswered prompt and says NO_SERVICE, with a hint.
    const launched = await launchBrowser("firefox", {
      publicPorts: [server.port],
      firefoxPrefs: { "permissions.default.loopback-network": 2 },
    });
    onCleanup(() => launched.close());
    const answering = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () => new Response("ok", { headers: { "access-control-allow-origin": "*" } }),
    });
    onCleanup(() => answering.stop(true));
    const page = await launched.browser.newPage();
    await page.goto(`${server.url}/?auto=0`);
    const reach = await page.evaluate(async (url) => {
      try {
        return `answered ${(await fetch(url)).status}`;
      } catch (e) {
        return `refused: ${(e as Error).message}`;
      }
    }, `http://127.0.0.1:${answering.port}/`);
    expect(reach).toStartWith("refused");
    const r = await linkInPage(page, `${server.url}/pkipc.js`, { timeoutMs: 10_000 });
    expect(r).toMatchObject({ ok: false, code: "NO_SERVICE" });
    expect(r.permissionEvents).toEqual(["prompt"]);
    expect(r.message).toContain("choose Allow");
  });
});

describe("firefox, the LocalNetworkAccess policy's SkipDomains", () => {
  test("network.lna.skip-domains (what SkipDomains sets, joined by commas) exempts the page's host: a page denied by default reaches loopback and links", async () => {
    const server = await testServer();
    await testService(server.url);
    // The page is served as http://localhost:PORT (public by override) and reaches 127.0.0.1, so only the
    // page's own host can match. Default-deny, as in the test above; then exempt the page's host, as an
    // administrator's {"LocalNetworkAccess": {"SkipDomains": ["saas.example"]}} does for https://saas.example.
    const pageOrigin = `http://localhost:${server.port}`;
    server.allowOrigin(pageOrigin);
    const prefs = { "permissions.default.loopback-network": 2, "network.lna.skip-domains": "localhost" };
    const launched = await launchBrowser("firefox", { publicPorts: [server.port], firefoxPrefs: prefs });
    onCleanup(() => launched.close());
    const answering = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () => new Response("ok", { headers: { "access-control-allow-origin": "*" } }),
    });
    onCleanup(() => answering.stop(true));
    const page = await launched.browser.newPage();
    await page.goto(`${pageOrigin}/?auto=0`);
    const reach = await page.evaluate(async (url) => {
      try {
        return `answered ${(await fetch(url)).status}`;
      } catch (e) {
        return `refused: ${(e as Error).message}`;
      }
    }, `http://127.0.0.1:${answering.port}/`);
    expect(reach).toBe("answered 200");
    expect(await page.evaluate(() => location.hostname)).toBe("localhost");
    // The module from the page's own origin: the demo page's Content-Security-Policy runs no other origin's script.
    const r = await linkInPage(page, `${pageOrigin}/pkipc.js`);
    expect(r).toMatchObject({ ok: true });
  });
});

describe("webkit, Local Network Access", () => {
  test("WebKit does not expose the permission: query() knows neither name, the module reports unknown, and links", async () => {
    const server = await testServer();
    await testService(server.url);
    const launched = await launchWebKit();
    onCleanup(() => launched.close());
    const { session } = launched;
    await session.goto(`${server.url}/?auto=0`);
    // WebKitGTK has no Local Network Access permission (Safari does not enforce it either, BRIEF section 2):
    // both names are unknown to its Permissions API, which is what makes the module say "unknown".
    const names = await session.evaluate(
      async (names: string[]) => {
        const out: string[] = [];
        for (const name of names) {
          try {
            out.push(`${name}: ${(await navigator.permissions.query({ name } as never)).state}`);
          } catch (e) {
            out.push(`${name}: ${(e as Error).name}`);
          }
        }
        return out;
      },
      [["loopback-network", "local-network-access"]],
    );
    expect(names).toEqual(["loopback-network: TypeError", "local-network-access: TypeError"]);
    const r = await linkInWebKit(session, `${server.url}/pkipc.js`);
    expect(r).toMatchObject({ ok: true, permission: "unknown" });
    expect(r.permissionEvents).toEqual(["unknown"]);
  });
});
