// No third-party script on the server's origin (which its CORS and page checks always trust), and every HTML
// page it serves carries a Content-Security-Policy, frame-ancestors 'none' and nosniff; the pages still link.
import { afterAll, describe, expect, test } from "bun:test";
import type { Page } from "puppeteer-core";
import { onCleanup, serverProcess, testServer, testService } from "../helpers.ts";
import { startDemoSaas } from "../../src/demo/saas.ts";
import { type LaunchedBrowser, launchBrowser } from "../browser/launch.ts";

/** Every URL a page names in src= or href=, resolved against the page. */
function urlsIn(html: string, base: string): URL[] {
  return [...html.matchAll(/\b(?:src|href)\s*=\s*["']?([^"'\s>]+)/gi)].map((m) => new URL(m[1]!, base));
}

/** What an HTML answer must carry: a policy that runs only the origin's own scripts and forbids framing, and nosniff. */
function expectHardened(response: Response, path: string): void {
  const policy = response.headers.get("content-security-policy");
  expect(policy, `${path}: Content-Security-Policy`).not.toBeNull();
  const directives = new Map(
    policy!
      .split(";")
      .map((d) => d.trim().split(/\s+/))
      .map(([name, ...values]) => [name!, values]),
  );
  expect(directives.get("frame-ancestors"), path).toEqual(["'none'"]);
  expect(directives.get("script-src"), path).toEqual(["'self'"]);
  expect(directives.get("default-src"), path).toEqual(["'none'"]);
  expect(response.headers.get("x-content-type-options"), path).toBe("nosniff");
}

describe("the server serves no third-party script, and hardens every HTML page", () => {
  test("/openapi names no other origin; /openapi/json is the document; every HTML page has CSP and nosniff", async () => {
    const server = await serverProcess();
    const origin = new URL(server.url).origin;

    const docs = await fetch(`${server.url}/openapi`);
    expect(docs.status).toBe(200);
    expect(docs.headers.get("content-type")).toStartWith("text/html");
    const html = await docs.text();
    const foreign = urlsIn(html, `${server.url}/openapi`).filter((u) => u.origin !== origin);
    expect(foreign.map(String)).toEqual([]);
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain('href="openapi/json"');
    expectHardened(docs, "/openapi");

    const json = await fetch(`${server.url}/openapi/json`);
    expect(json.headers.get("content-type")).toStartWith("application/json");
    const document = (await json.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(document.openapi).toStartWith("3.");
    expect(Object.keys(document.paths)).toContain("/v1/sessions");

    // Every GET the document names, plus the pages it hides: whatever answers HTML is hardened and loads
    // scripts from this origin only.
    const paths = [
      "/",
      "/openapi",
      "/pkipc.js",
      "/demo.js",
      ...Object.keys(document.paths).filter((p) => "get" in document.paths[p]!),
    ];
    const htmlPaths: string[] = [];
    for (const path of new Set(paths.map((p) => p.replace(/\{[^}]+\}|:[A-Za-z]+/g, "x")))) {
      const answer = await fetch(`${server.url}${path}`);
      const type = answer.headers.get("content-type") ?? "";
      const body = await answer.text();
      if (type.startsWith("text/javascript"))
        expect(answer.headers.get("x-content-type-options"), path).toBe("nosniff");
      if (!type.startsWith("text/html")) continue;
      htmlPaths.push(path);
      expectHardened(answer, path);
      expect(
        urlsIn(body, `${server.url}${path}`)
          .filter((u) => u.origin !== origin)
          .map(String),
        path,
      ).toEqual([]);
    }
    expect(htmlPaths).toEqual(expect.arrayContaining(["/", "/openapi"]));
  });
});

describe("the pages still link in Chromium under their policy", () => {
  let launched: LaunchedBrowser | undefined;
  afterAll(async () => {
    await launched?.close();
  });

  /** Opens `url` with a recorder of CSP violations installed first; resolves with the demo's outcome and the violations. */
  async function run(url: string): Promise<{ state: string; status: string; violations: string[] }> {
    launched ??= await launchBrowser("chromium", { acceptInsecureCerts: true });
    const page: Page = await launched.browser.newPage();
    onCleanup(() => page.close().catch(() => {}));
    // The policy itself must parse: a source the browser cannot read is dropped with a console error on every page.
    const policyErrors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" && m.text().includes("Content Security Policy")) policyErrors.push(m.text());
    });
    await page.evaluateOnNewDocument(() => {
      (window as any).violations = [];
      document.addEventListener("securitypolicyviolation", (e) =>
        (window as any).violations.push(`${e.effectiveDirective} ${e.blockedURI}`),
      );
    });
    // Nothing the page's own origin serves fails (knocks go to other ports): e.g. the icon every browser asks for.
    const failed: string[] = [];
    page.on("response", (r) => {
      if (new URL(r.url()).origin === new URL(url).origin && r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
    });
    await page.goto(url);
    await page.waitForFunction(() => ["linked", "failed"].includes(document.body.dataset.state ?? ""), {
      timeout: 30_000,
    });
    const outcome = await page.evaluate(() => ({
      state: document.body.dataset.state ?? "",
      status: document.getElementById("status")?.textContent ?? "",
      violations: (window as any).violations as string[],
    }));
    expect(policyErrors).toEqual([]);
    await Bun.sleep(200); // the icon is asked for after the page loaded
    expect(failed).toEqual([]);
    return outcome;
  }

  test("the demo page served by the server knocks over every transport with no policy violation, and links over those that carry its origin", async () => {
    const server = await testServer();
    await testService(server.url);
    // Chromium's TLS knocks (https, wss) carry no Origin, so they prove no page and link nothing (see the security
    // model); the policy must still let them out, or a page that picks them would learn nothing of why.
    for (const [transport, links] of [
      ["fetch", true],
      ["ws", true],
      ["https", false],
      ["wss", false],
    ] as const) {
      const outcome = await run(`${server.url}/?transport=${transport}`);
      console.log(`chromium, ${transport}: ${outcome.state}, violations ${JSON.stringify(outcome.violations)}`);
      expect(outcome.violations).toEqual([]);
      expect(outcome.state).toBe(links ? "linked" : "failed");
    }
  });

  test("the demo SaaS page (backend and pkipc server on other origins) links with no policy violation", async () => {
    const saas = startDemoSaas();
    onCleanup(() => saas.stop());
    const server = await testServer();
    server.allowOrigin(saas.url);
    saas.connect(server.url, (await server.registry.issueApiKey("saas", saas.url)).key);
    await testService(server.url);
    const answer = await fetch(`${saas.url}/`);
    expectHardened(answer, "the SaaS page");
    const outcome = await run(`${saas.url}/`);
    expect(outcome.violations).toEqual([]);
    expect(outcome.state).toBe("linked");
    expect(outcome.status).toContain("PID");
  });
});
