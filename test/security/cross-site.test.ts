// A hostile page in the user's own browser, on a site the operator never allowed: it must not be able to
// create, read or instruct a session, nor link the user's service, in Chromium and in Firefox.
import { afterAll, describe, expect, test } from "bun:test";
import { memoryStore } from "../../src/server/state/memory/sessions.ts";
import { backendApi, onCleanup, testServer, testService } from "../helpers.ts";
import { otherOrigin } from "../browser/fixtures.ts";
import { type BrowserKind, type LaunchedBrowser, launchBrowser } from "../browser/launch.ts";

/** What the hostile page tried, and what it got: "blocked: ..." when the browser refused to hand it the answer. */
interface Attempts {
  create: string;
  createNoCors: string;
  read: string;
  instructNoCors: string;
  link: string;
}

/** Runs every attack the page can make with the server's URL and a session id it learned somehow. */
function attack(server: string, leakedId: string): Promise<Attempts> {
  return (async () => {
    const outcome = async (f: () => Promise<string>) => {
      try {
        return await f();
      } catch (error) {
        return `blocked: ${(error as Error).message}`;
      }
    };
    const signal = () => AbortSignal.timeout(5000);
    return {
      // A CORS request: the server would have to name this origin for the page to read the code.
      create: await outcome(async () => {
        const r = await fetch(`${server}/v1/sessions`, { method: "POST", signal: signal() });
        return `answered ${r.status}: ${await r.text()}`;
      }),
      // A "simple" cross-site POST, sent without a preflight: the page cannot read the answer, but the
      // server must not create anything for it either.
      createNoCors: await outcome(async () => {
        await fetch(`${server}/v1/sessions`, {
          method: "POST",
          mode: "no-cors",
          headers: { "content-type": "text/plain" },
          body: "{}",
          signal: signal(),
        });
        return "sent";
      }),
      read: await outcome(async () => {
        const r = await fetch(`${server}/v1/sessions/${leakedId}`, { signal: signal() });
        return `answered ${r.status}: ${await r.text()}`;
      }),
      // JSON in a text/plain body: what a browser sends across sites without asking.
      instructNoCors: await outcome(async () => {
        await fetch(`${server}/v1/sessions/${leakedId}/instructions`, {
          method: "POST",
          mode: "no-cors",
          headers: { "content-type": "text/plain; x=json" },
          body: JSON.stringify({ name: "log", args: { message: "from evil.example" } }),
          signal: signal(),
        });
        return "sent";
      }),
      link: await outcome(async () => {
        const m = await import(`${server}/pkipc.js`);
        const r = await m.link({ timeoutMs: 4000 });
        return `linked ${r.sessionId}`;
      }),
    };
  })();
}

for (const kind of ["chromium", "firefox"] as BrowserKind[]) {
  describe(`a hostile page in ${kind}`, () => {
    let launched: LaunchedBrowser | undefined;
    afterAll(async () => {
      await launched?.close();
    });

    test("can neither create, read nor instruct a session, and links nothing", async () => {
      const store = memoryStore();
      const server = await testServer({}, store);
      const service = await testService(server.url);
      // A session of the real SaaS whose id the attacker learned (a leak); it must stay untouched.
      const leaked = await backendApi(server.url).createSession();
      const evil = otherOrigin("<!doctype html><title>evil.example</title><p>nothing to see</p>");
      launched ??= await launchBrowser(kind);
      const page = await launched.browser.newPage();
      onCleanup(() => page.close().catch(() => {}));
      await page.goto(`${evil}/`);
      const tried = (await page.evaluate(attack, server.url, leaked.id)) as Attempts;
      console.log(`${kind}, hostile page: ${JSON.stringify(tried)}`);

      // The refusal itself is readable (so the module can say NOT_ALLOWED): a 403 that names only the origin.
      expect(tried.create).toMatch(/^answered 403: .*"code":"ORIGIN_NOT_ALLOWED"/);
      expect(tried.read).toMatch(/^answered 403: .*"code":"ORIGIN_NOT_ALLOWED"/);
      expect(tried.read).not.toContain(leaked.id);
      expect(tried.link).toStartWith("blocked");
      expect(tried.link).toContain(`does not serve pages of ${evil}`);
      // Whatever the browser sent, the server made no session for it: only the leaked one is live.
      expect(await store.liveCount()).toBe(1);
      const status = await backendApi(server.url).status(leaked.id);
      expect(status.state).toBe("pending");
      expect(status.instructions).toEqual([]);
      expect(service.reports.some((r) => r.answer?.linked)).toBe(false);

      // The same requests as the browser sent them, seen from the server: refused, not just unreadable.
      const fromEvil = { origin: evil };
      expect((await fetch(`${server.url}/v1/sessions`, { method: "POST", headers: fromEvil })).status).toBe(403);
      expect((await fetch(`${server.url}/v1/sessions/${leaked.id}`, { headers: fromEvil })).status).toBe(403);
      const preflight = await fetch(`${server.url}/v1/sessions`, {
        method: "OPTIONS",
        headers: { ...fromEvil, "access-control-request-method": "POST" },
      });
      expect(preflight.status).toBe(403);
      expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
    });
  });
}

describe("request bodies are read only under their exact media type", () => {
  test("text/plain, form and untyped bodies are refused with 415 on every route that takes a body", async () => {
    const server = await testServer();
    const offer = await backendApi(server.url).createSession();
    const auth = { authorization: `Bearer ${server.apiKey}` };
    const body = JSON.stringify({ name: "log", args: { message: "hi" } });
    for (const type of [
      "text/plain",
      "text/plain; x=json",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/jsonx",
    ]) {
      const queued = await fetch(`${server.url}/v1/sessions/${offer.id}/instructions`, {
        method: "POST",
        headers: { ...auth, "content-type": type },
        body,
      });
      expect(queued.status).toBe(415);
      expect(((await queued.json()) as { error: { code: string } }).error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
      const created = await fetch(`${server.url}/v1/sessions`, {
        method: "POST",
        headers: { ...auth, "content-type": type },
        body: "{}",
      });
      expect(created.status).toBe(415);
      const report = await fetch(`${server.url}/v1/reports`, {
        method: "POST",
        headers: { "content-type": type },
        body: "{}",
      });
      expect(report.status).toBe(415);
    }
    // A body with no media type at all is not guessed at either.
    const untyped = await fetch(`${server.url}/v1/sessions/${offer.id}/instructions`, {
      method: "POST",
      headers: auth,
      body: new Blob([body]),
    });
    expect(untyped.status).toBe(415);
    expect((await backendApi(server.url).status(offer.id)).instructions).toEqual([]);
    // application/json, with a charset, is read.
    const ok = await fetch(`${server.url}/v1/sessions/${offer.id}/instructions`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json; charset=utf-8" },
      body,
    });
    expect(ok.status).toBe(202);
  });

  test("queueing an instruction and reading who linked need the owning backend's API key", async () => {
    const server = await testServer();
    const offer = await backendApi(server.url).createSession();
    const json = { "content-type": "application/json" };
    const body = JSON.stringify({ name: "log" });
    const anonymous = await fetch(`${server.url}/v1/sessions/${offer.id}/instructions`, {
      method: "POST",
      headers: json,
      body,
    });
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe("API_KEY_REQUIRED");
    const wrong = await fetch(`${server.url}/v1/sessions/${offer.id}/instructions`, {
      method: "POST",
      headers: { ...json, authorization: "Bearer pkak_guess" },
      body,
    });
    expect(wrong.status).toBe(401);
    // Another SaaS's key on the same server: the session reads as missing.
    const { key: other } = await server.registry.issueApiKey("other SaaS", "https://other.example");
    const foreign = await fetch(`${server.url}/v1/sessions/${offer.id}/instructions`, {
      method: "POST",
      headers: { ...json, authorization: `Bearer ${other}` },
      body,
    });
    expect(foreign.status).toBe(404);
    expect(
      (await fetch(`${server.url}/v1/sessions/${offer.id}`, { headers: { authorization: `Bearer ${other}` } })).status,
    ).toBe(404);
    // A revoked key stops working at once.
    const issued = await server.registry.issueApiKey("retired", server.url);
    await server.registry.revokeApiKey(issued.id);
    expect(
      (await fetch(`${server.url}/v1/sessions`, { method: "POST", headers: { authorization: `Bearer ${issued.key}` } }))
        .status,
    ).toBe(401);
    // Without a key, a status is the progress only.
    const page = (await (await fetch(`${server.url}/v1/sessions/${offer.id}`)).json()) as Record<string, unknown>;
    expect(Object.keys(page).sort()).toEqual(["expiresAt", "id", "instructions", "state", "version"]);
  });
});
