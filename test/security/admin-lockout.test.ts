// The admin secret against an attacker who cannot guess it: no web page locks the operator out, many
// addresses guess no faster than one bound, and a secret too short to be strong is refused at start.
import { afterAll, describe, expect, test } from "bun:test";
import { onCleanup, runPkipc, serverProcess } from "../helpers.ts";
import { otherOrigin } from "../browser/fixtures.ts";
import { type LaunchedBrowser, launchBrowser } from "../browser/launch.ts";
import { requestFrom } from "./tools.ts";

/** The API keys a server holds, read with the right secret as the operator would. */
async function apiKeys(url: string, secret: string): Promise<Array<{ id: string; revokedAt?: string }>> {
  const answer = await requestFrom("127.0.0.1", url, "GET", "/v1/admin/api-keys", {
    headers: { authorization: `Bearer ${secret}` },
  });
  expect(answer.status).toBe(200);
  return (JSON.parse(answer.body) as { apiKeys: Array<{ id: string; revokedAt?: string }> }).apiKeys;
}

/** What a page on any site can send the admin endpoints without CORS: simple POSTs, no Authorization. */
function noCorsPosts(server: string): Promise<string[]> {
  return (async () => {
    const sent: string[] = [];
    const bodies: Array<[string, string]> = [
      ["text/plain", "{}"],
      ["application/x-www-form-urlencoded", "name=x&origin=https://evil.example"],
      ["multipart/form-data; boundary=x", "--x--"],
    ];
    for (let i = 0; i < 12; i++) {
      const [type, body] = bodies[i % bodies.length]!;
      try {
        // The token route reads no body, so each of these reaches the secret check.
        await fetch(`${server}/v1/admin/tokens`, {
          method: "POST",
          mode: "no-cors",
          headers: { "content-type": type },
          body,
          signal: AbortSignal.timeout(5000),
        });
        sent.push("sent");
      } catch (error) {
        sent.push(`blocked: ${(error as Error).message}`);
      }
    }
    // And a CORS request with a made-up secret: the browser must ask first, and no admin route says yes.
    try {
      await fetch(`${server}/v1/admin/tokens`, {
        method: "POST",
        headers: { authorization: "Bearer guess" },
        signal: AbortSignal.timeout(5000),
      });
      sent.push("cors sent");
    } catch (error) {
      sent.push(`cors blocked: ${(error as Error).message}`);
    }
    return sent;
  })();
}

describe("a web page the operator opens cannot lock them out", () => {
  let launched: LaunchedBrowser | undefined;
  afterAll(async () => {
    await launched?.close();
  });

  test("12 no-cors POSTs from a page of another origin, then the right secret still revokes a stolen API key", async () => {
    const server = await serverProcess();
    const evil = otherOrigin("<!doctype html><title>evil.example</title><p>nothing to see</p>");
    launched = await launchBrowser("chromium");
    const page = await launched.browser.newPage();
    onCleanup(() => page.close().catch(() => {}));
    await page.goto(`${evil}/`);
    const sent = (await page.evaluate(noCorsPosts, server.url)) as string[];
    console.log(`chromium, a page of ${evil} against the admin endpoints: ${JSON.stringify(sent)}`);
    // The browser did send them (so the server saw them), and refused the one that needed CORS.
    expect(sent.filter((s) => s === "sent").length).toBe(12);
    expect(sent.at(-1)).toStartWith("cors blocked");

    // The operator, on the same computer (the same address as the page's requests), revokes the stolen key.
    const [stolen] = await apiKeys(server.url, server.adminSecret);
    const revoked = await runPkipc(["admin", "revoke-api-key", stolen!.id, "--server", server.url], 30_000, {
      PKIPC_ADMIN_SECRET: server.adminSecret,
    });
    expect(revoked.stderr).toBe("");
    expect(revoked.stdout).toContain(`revoked API key ${stolen!.id}`);
    expect(revoked.code).toBe(0);
    const refused = await requestFrom("127.0.0.1", server.url, "POST", "/v1/sessions", {
      headers: { authorization: `Bearer ${server.apiKey}` },
    });
    expect(refused.status).toBe(401);
  });
});

describe("guessing the admin secret is bounded, and the right one always passes", () => {
  test("wrong secrets from one address: 401 ten times, then 429; the right secret from that address still works", async () => {
    const server = await serverProcess();
    const attempt = (from: string, given: string) =>
      requestFrom(from, server.url, "POST", "/v1/admin/tokens", { headers: { authorization: `Bearer ${given}` } });
    const wrong: number[] = [];
    for (let i = 0; i < 12; i++) wrong.push((await attempt("127.0.0.2", `guess-${i}`)).status);
    expect(wrong.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(wrong.slice(10)).toEqual([429, 429]);
    expect((await attempt("127.0.0.2", server.adminSecret)).status).toBe(201);
  });

  test("a body the route does not read is refused only after the secret: 401 and counted, not 415", async () => {
    const server = await serverProcess();
    const post = (from: string, authorization?: string) =>
      requestFrom(from, server.url, "POST", "/v1/admin/api-keys", {
        headers: { "content-type": "text/plain", ...(authorization ? { authorization } : {}) },
        body: "{}",
      });
    expect((await post("127.0.0.3")).status).toBe(401);
    const wrong: number[] = [];
    for (let i = 0; i < 11; i++) wrong.push((await post("127.0.0.3", `Bearer guess-${i}`)).status);
    expect(wrong.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(wrong[10]).toBe(429);
    // The right secret reaches the body check, which still wants JSON.
    expect((await post("127.0.0.4", `Bearer ${server.adminSecret}`)).status).toBe(415);
  });

  test("wrong secrets from 40 addresses are bounded as a whole (not 10 each); the right secret still works from any", async () => {
    const server = await serverProcess();
    const attempt = (from: string, given: string) =>
      requestFrom(from, server.url, "POST", "/v1/admin/tokens", { headers: { authorization: `Bearer ${given}` } });
    const statuses: number[] = [];
    // 5 guesses from each of 40 addresses: under the per-address bound (10) everywhere, 200 in all.
    for (let round = 0; round < 5; round++) {
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) => attempt(`127.0.0.${i + 2}`, `guess-${round}-${i}`)),
      );
      statuses.push(...answers.map((a) => a.status));
    }
    const counted = statuses.filter((s) => s === 401).length;
    const limited = statuses.filter((s) => s === 429).length;
    console.log(`200 wrong secrets from 40 addresses: ${counted} answered 401, ${limited} answered 429`);
    expect(counted + limited).toBe(200);
    // 100 in a burst, then one a second: the run takes seconds, not a minute, so far under 150 get through.
    expect(counted).toBeLessThan(150);
    expect(limited).toBeGreaterThan(50);
    for (const from of ["127.0.0.2", "127.0.0.41", "127.0.0.99"])
      expect((await attempt(from, server.adminSecret)).status).toBe(201);
  });
});

describe("an admin secret too short to be strong is refused at start", () => {
  for (const [what, weak] of [
    ["21 hex digits (84 bits)", "0123456789abcdef01234"],
    ["16 base64 characters (96 bits)", "Zm9vYmFyYmF6cXV4"],
    ["a repeated character", "a".repeat(40)],
  ] as const) {
    test(`${what}: the server says why in one sentence and does not listen`, async () => {
      const run = await runPkipc(["server", "--listen", "127.0.0.1:0"], 15_000, { PKIPC_ADMIN_SECRET: weak });
      expect(run.stderr).not.toContain("listening on");
      expect(run.stderr).toContain("PKIPC_ADMIN_SECRET is too weak");
      expect(run.stderr).toContain("openssl rand -base64 24");
      expect(run.stderr).not.toContain(weak); // the secret itself is never echoed
      expect(run.stderr).not.toMatch(/\n\s+at /); // no stack
      expect(run.code).not.toBe(0);
    });
  }
});
