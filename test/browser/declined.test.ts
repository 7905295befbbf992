// The page module in a real browser hears the local user's "no": link() rejects with LinkError DECLINED at once, not NOT_LINKED after its timeout.
import { afterAll, describe, expect, test } from "bun:test";
import { onCleanup, testServer, testService } from "../helpers.ts";
import { otherOrigin } from "./fixtures.ts";
import { type BrowserKind, type LaunchedBrowser, launchBrowser } from "./launch.ts";

for (const kind of ["chromium", "firefox"] as BrowserKind[]) {
  describe(`${kind}`, () => {
    let launched: LaunchedBrowser | undefined;
    afterAll(async () => {
      await launched?.close();
    });

    test("a link the person at the computer declines rejects with DECLINED well before the page's timeout", async () => {
      launched = await launchBrowser(kind, { acceptInsecureCerts: true });
      const server = await testServer();
      const asked: string[] = [];
      // The desktop dialog's answer, as the service's ConfirmLink returns it (the dialog itself: test/e2e/desktop-consent.test.ts).
      await testService(server.url, { confirm: async (_process, _ports, origin) => (asked.push(origin), "deny") });
      const saas = otherOrigin(`<!doctype html><title>saas</title><script type="module">
        import { link } from "${server.url}/pkipc.js";
        const start = performance.now();
        window.outcome = link({ timeoutMs: 20000 }).then(() => ({ ok: true }), (e) => ({ ok: false, code: e.code, message: e.message, ms: performance.now() - start }));
      </script>`);
      server.allowOrigin(saas);
      const page = await launched.browser.newPage();
      onCleanup(() => page.close().catch(() => {}));
      await page.goto(`${saas}/`);
      await page.waitForFunction(() => (window as any).outcome, { timeout: 30_000 });
      const outcome = await page.evaluate(() => (window as any).outcome);
      expect(outcome).toMatchObject({ ok: false, code: "DECLINED" });
      expect(outcome.ms).toBeLessThan(15_000); // answered, not timed out at 20 s
      expect(asked).toEqual([saas]);
    });
  });
}
