// Every failure of link() in real Chromium and Firefox names its cause, well before the page's timeout: no service, an unknown service, another address, the page's CSP, Local Network Access, an origin the server does not serve.
import { afterAll, describe, expect, test } from "bun:test";
import type { Page } from "puppeteer-core";
import { apiClient } from "../../src/protocol/api-client.ts";
import { onCleanup, testServer, testService } from "../helpers.ts";
import { type BrowserKind, type LaunchedBrowser, launchBrowser, setLocalNetworkPermission } from "./launch.ts";
import type { PageLink } from "./page.ts";

/** The page's timeout in these tests: an outcome well under it was named, not waited out. */
const TIMEOUT_MS = 30_000;

/** A SaaS page on an origin of its own (optionally with response headers such as a CSP): its origin and port. */
function saasPage(headers: Record<string, string> = {}) {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () =>
      new Response("<!doctype html><title>saas</title>", { headers: { "content-type": "text/html", ...headers } }),
  });
  onCleanup(() => server.stop(true));
  return { origin: `http://127.0.0.1:${server.port}`, port: server.port! };
}

/** Runs link() in `page` with the page's timeout, and how long it took. */
async function linkIn(
  page: Page,
  moduleUrl: string,
  extra: Record<string, unknown> = {},
): Promise<PageLink & { ms: number }> {
  return page.evaluate(
    async (url, opts) => {
      const start = performance.now();
      const m = await import(url);
      try {
        const r = await m.link(opts);
        return { ok: true, sessionId: r.sessionId, ms: performance.now() - start };
      } catch (e) {
        return {
          ok: false,
          code: (e as { code?: string }).code,
          message: String((e as Error).message),
          ms: performance.now() - start,
        };
      }
    },
    moduleUrl,
    { timeoutMs: TIMEOUT_MS, ...extra },
  );
}

for (const kind of ["chromium", "firefox"] as BrowserKind[]) {
  describe(`${kind}`, () => {
    let launched: LaunchedBrowser | undefined;
    const browser = async () => (launched ??= await launchBrowser(kind));
    afterAll(async () => {
      await launched?.close();
    });

    async function open(origin: string, b?: LaunchedBrowser) {
      const page = await (b ?? (await browser())).browser.newPage();
      onCleanup(() => page.close().catch(() => {}));
      await page.goto(`${origin}/`);
      return page;
    }

    test("no service on this computer: NO_SERVICE, within seconds", async () => {
      const server = await testServer();
      const saas = saasPage();
      server.allowOrigin(saas.origin);
      const r = await linkIn(await open(saas.origin), `${server.url}/pkipc.js`);
      expect(r).toMatchObject({ ok: false, code: "NO_SERVICE" });
      expect(r.message).toContain("is pkipc service running");
      console.log(`${kind} NO_SERVICE after ${Math.round(r.ms)} ms`);
      expect(r.ms).toBeLessThan(TIMEOUT_MS / 2); // named, not waited out
    });

    test("a service this server does not know (its key is not enrolled here): SERVICE_NOT_ENROLLED, and the backend's status says so", async () => {
      const server = await testServer();
      const saas = saasPage();
      server.allowOrigin(saas.origin);
      const backend = apiClient(server.url, { apiKey: (await server.registry.issueApiKey("saas", saas.origin)).key });
      // A key of a service enrolled elsewhere: the server has no such id.
      const stranger = {
        serviceId: "enrolled-elsewhere-01",
        key: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url"),
      };
      await testService(server.url, { credentials: stranger });
      const { offer } = await backend.openSession();
      const r = await linkIn(await open(saas.origin), `${server.url}/pkipc.js`, { session: offer });
      expect(r).toMatchObject({ ok: false, code: "SERVICE_NOT_ENROLLED" });
      expect(r.message).toContain("does not know it");
      expect(r.ms).toBeLessThan(TIMEOUT_MS / 2);
      // The backend sees this reason (an unproven report's) once the session stayed pending for its grace: it
      // waits as integrators do, long polls from each version, until a reason or the end.
      let status = await backend.status(offer.id);
      for (let turn = 0; turn < 5 && status.state === "pending" && status.reason === undefined; turn++)
        status = await backend.status(offer.id, { seconds: 10, since: status.version });
      expect(status).toMatchObject({ state: "pending", reason: "SERVICE_NOT_ENROLLED" });
    });

    test("the backend stated another user address than the knocks come from: ADDRESS_MISMATCH naming both", async () => {
      const server = await testServer();
      const saas = saasPage();
      server.allowOrigin(saas.origin);
      const backend = apiClient(server.url, { apiKey: (await server.registry.issueApiKey("saas", saas.origin)).key });
      await testService(server.url);
      // The user's browser reaches the server from 127.0.0.1; the backend says ::1.
      const offer = await backend.createSession("json", undefined, { address: "::1" });
      const r = await linkIn(await open(saas.origin), `${server.url}/pkipc.js`, { session: offer });
      expect(r).toMatchObject({ ok: false, code: "ADDRESS_MISMATCH" });
      expect(r.message).toContain("::1");
      expect(r.message).toContain("127.0.0.1");
      expect(r.ms).toBeLessThan(TIMEOUT_MS / 2);
      const status = await backend.status(offer.id);
      expect(status).toMatchObject({ state: "pending", reason: "ADDRESS_MISMATCH" });
      expect(status.detail).toContain("::1");
      expect(status.detail).toContain("127.0.0.1");
    });

    test("knocks that carry no origin (TLS, in this engine): ORIGIN_NOT_PROVEN, not NO_SERVICE", async () => {
      const server = await testServer();
      const saas = saasPage();
      server.allowOrigin(saas.origin);
      await testService(server.url);
      const r = await linkIn(await open(saas.origin), `${server.url}/pkipc.js`, { transport: "https" });
      expect(r).toMatchObject({ ok: false, code: "ORIGIN_NOT_PROVEN" });
      expect(r.message).toContain("fetch or ws");
      expect(r.ms).toBeLessThan(TIMEOUT_MS / 2);
    });

    test("the service's user does not allow the page's origin: SERVICE_REFUSED_ORIGIN", async () => {
      const server = await testServer();
      const saas = saasPage();
      server.allowOrigin(saas.origin);
      await testService(server.url, { allowOrigins: ["https://only-this.example"] });
      const r = await linkIn(await open(saas.origin), `${server.url}/pkipc.js`);
      expect(r).toMatchObject({ ok: false, code: "SERVICE_REFUSED_ORIGIN" });
      expect(r.message).toContain(`does not allow ${saas.origin}`);
      expect(r.ms).toBeLessThan(TIMEOUT_MS / 2);
    });

    test("the page's Content-Security-Policy blocks the knocks: CSP, naming the connect-src to add", async () => {
      const server = await testServer();
      // connect-src lets the page call its pkipc server, and nothing else on loopback.
      const saas = saasPage({ "content-security-policy": `connect-src ${server.url}` });
      server.allowOrigin(saas.origin);
      await testService(server.url);
      const r = await linkIn(await open(saas.origin), `${server.url}/pkipc.js`);
      expect(r).toMatchObject({ ok: false, code: "CSP" });
      expect(r.message).toContain("connect-src");
      expect(r.message).toContain(kind === "firefox" ? "ws://127.0.0.1:*" : "http://127.0.0.1:*");
      expect(r.ms).toBeLessThan(TIMEOUT_MS / 2);
    });

    test("a policy that blocks the pkipc server itself: CSP naming the server's origin", async () => {
      const server = await testServer();
      const saas = saasPage({ "content-security-policy": "connect-src 'self'" });
      server.allowOrigin(saas.origin);
      const r = await linkIn(await open(saas.origin), `${server.url}/pkipc.js`);
      expect(r).toMatchObject({ ok: false, code: "CSP" });
      expect(r.message).toContain(`add ${server.url} to its connect-src`);
    });

    test("an origin the server does not serve: NOT_ALLOWED, not SERVER", async () => {
      const server = await testServer();
      const saas = saasPage(); // not on the server's --allow-origin list
      const r = await linkIn(await open(saas.origin), `${server.url}/pkipc.js`);
      expect(r).toMatchObject({ ok: false, code: "NOT_ALLOWED" });
      expect(r.message).toContain(saas.origin);
    });

    test("Local Network Access denied and no service linked: LOCAL_NETWORK_BLOCKED within seconds", async () => {
      const server = await testServer();
      const saas = saasPage();
      server.allowOrigin(saas.origin);
      const denied = await launchBrowser(kind, { publicPorts: [saas.port, server.port] });
      onCleanup(() => denied.close());
      await setLocalNetworkPermission(denied, saas.origin, "denied");
      const r = await linkIn(await open(saas.origin, denied), `${server.url}/pkipc.js`);
      expect(r).toMatchObject({ ok: false, code: "LOCAL_NETWORK_BLOCKED" });
      expect(r.ms).toBeLessThan(TIMEOUT_MS / 2);
    });
  });
}
