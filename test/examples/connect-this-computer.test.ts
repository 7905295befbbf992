// examples/connect-this-computer end to end, in real Chromium and Firefox: a click on the SaaS page puts a
// per-user API key, made by the SaaS's backend, into a file of the local app; nothing else can.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { startAgent } from "../../examples/connect-this-computer/agent.ts";
import { startExampleSaas } from "../../examples/connect-this-computer/saas.ts";
import {
  adminApiKey,
  enrollmentToken,
  onCleanup,
  ROOT,
  serverProcess,
  TEST_ALLOWED_PROCESSES,
  TEST_USER,
  tempFolder,
} from "../helpers.ts";
import { type BrowserKind, type LaunchedBrowser, launchBrowser } from "../browser/launch.ts";

for (const kind of ["chromium", "firefox"] as BrowserKind[]) {
  describe(`connect this computer, in ${kind}`, () => {
    let launched: LaunchedBrowser | undefined;
    afterAll(async () => {
      await launched?.close();
    });

    test("one click: the SaaS makes a key, the local app stores it (0600), the page confirms its fingerprint", async () => {
      // The SaaS must exist first: its origin goes on the pkipc server's --allow-origin list, and into its API key.
      let saas: ReturnType<typeof startExampleSaas> | undefined;
      const origin = await (async () => {
        const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
        const port = probe.port;
        await probe.stop(true);
        return { port, url: `http://127.0.0.1:${port}` };
      })();
      const server = await serverProcess(["--allow-origin", origin.url]);
      saas = startExampleSaas({
        pkipc: server.url,
        apiKey: await adminApiKey(server.url, "acme", origin.url),
        port: origin.port,
      });
      onCleanup(() => saas!.stop());

      const folder = join(tempFolder(), "acme");
      const stop = new AbortController();
      onCleanup(() => stop.abort());
      const agent = await startAgent({
        server: server.url,
        folder,
        enrollToken: await enrollmentToken(server.url),
        users: [Number(TEST_USER)],
        allowProcesses: TEST_ALLOWED_PROCESSES,
        allowOrigins: [origin.url],
        signal: stop.signal,
        quiet: true,
      });
      onCleanup(() => agent.stop());

      launched ??= await launchBrowser(kind);
      const page = await launched.browser.newPage();
      onCleanup(() => page.close().catch(() => {}));
      await page.setViewport({ width: 760, height: 420 });
      await page.goto(`${saas.url}/`);
      await page.click("#connect");
      await page.waitForFunction(() => ["delivered", "failed"].includes(document.body.dataset.state ?? ""), {
        timeout: 30_000,
      });
      const status = await page.evaluate(() => document.getElementById("status")?.textContent ?? "");
      expect(status).toStartWith("Connected: the key is stored at");

      const keyPath = join(folder, "api-key");
      // the path relative to the app's folder: the SaaS learns nothing of where the user's files are
      expect(status).toContain("stored at api-key in the Acme app's folder");
      expect(status).not.toContain(folder);
      expect([...saas.issued.values()]).toHaveLength(1);
      expect(readFileSync(keyPath, "utf8").trim()).toBe([...saas.issued.values()][0]!);
      expect(statSync(keyPath).mode & 0o777).toBe(0o600);
      if (kind === "chromium") {
        mkdirSync(join(ROOT, ".test-results"), { recursive: true });
        await page.screenshot({ path: join(ROOT, ".test-results", "connect-this-computer.png") as `${string}.png` });
      }
    });
  });
}
