// Cross-site oracle: a code handed to one address, knocked by a browser whose service reports from another.
import { describe, expect, test } from "bun:test";
import type { ClientResult } from "../../src/client/index.ts";
import { backendApi, enrollWith, eventually, runPkipc, testServer, testService } from "../helpers.ts";
import { relay, requestFrom } from "./tools.ts";

/** The compiled client, as the victim's browser: it gets its code through `sessionUrl` and knocks this machine. */
async function victimKnocks(sessionUrl: string, apiKey: string, timeout = "3s"): Promise<ClientResult> {
  const run = await runPkipc(["client", "--server", sessionUrl, "--json", "--timeout", timeout], 30_000, {
    PKIPC_API_KEY: apiKey,
  });
  return JSON.parse(run.stdout) as ClientResult;
}

describe("sessions are bound to the address they were asked for from", () => {
  test("session from 127.0.0.2, service reporting from 127.0.0.3: not linked by default", async () => {
    const server = await testServer();
    const attacker = relay("127.0.0.2", server.url); // the attacker's server asks for the code
    const victimNat = relay("127.0.0.3", server.url); // the victim's service reports from here
    const service = await testService(victimNat.url, { credentials: await enrollWith(server.url) });
    for (let attempt = 0; attempt < 3; attempt++) {
      const result = await victimKnocks(attacker.url, server.apiKey);
      expect(result.linked).toBe(false);
      expect(result.state).toBe("pending");
    }
    await eventually(
      () => service.reports.filter((r) => r.answer?.code === "OTHER_ORIGIN").length >= 3,
      "3 OTHER_ORIGIN answers",
    );
    expect(service.reports.some((r) => r.answer?.linked)).toBe(false);
  });

  test("the same two addresses link when the binding is turned off", async () => {
    const server = await testServer({ security: { bindOrigin: false } });
    const attacker = relay("127.0.0.2", server.url);
    const victimNat = relay("127.0.0.3", server.url);
    await testService(victimNat.url, { credentials: await enrollWith(server.url) });
    const result = await victimKnocks(attacker.url, server.apiKey, "10s");
    expect(result.linked).toBe(true);
  });

  test("a session asked for from the service's own address links (both from 127.0.0.3)", async () => {
    const server = await testServer();
    const nat = relay("127.0.0.3", server.url);
    await testService(nat.url, { credentials: await enrollWith(server.url) });
    expect((await victimKnocks(nat.url, server.apiKey, "10s")).linked).toBe(true);
  });

  test("behind a trusted proxy the named header gives the address; untrusted, it is ignored", async () => {
    for (const trusted of [true, false]) {
      const server = await testServer({ security: trusted ? { trustProxyHeader: "x-forwarded-for" } : {} });
      const service = await testService(server.url); // reports from 127.0.0.1
      // The session is asked for from 127.0.0.2, through a "proxy" saying the client was 127.0.0.1.
      const answer = await requestFrom("127.0.0.2", server.url, "POST", "/v1/sessions", {
        headers: { "x-forwarded-for": "198.51.100.7, 127.0.0.1", authorization: `Bearer ${server.apiKey}` },
      });
      const offer = JSON.parse(answer.body) as { id: string; tuples: number[][] };
      const { knockTuples } = await import("../../src/client/knock.ts");
      const { transports } = await import("../../plugins/transport/index.ts");
      await knockTuples(transports.tcp, offer.tuples, { settleMs: 2, origin: new URL(server.url).origin });
      await eventually(() => service.reports.length > 0, "the service's report");
      expect((await backendApi(server.url).status(offer.id)).state).toBe(trusted ? "linked" : "pending");
    }
  });

  test("a non-browser client forging an allowed Origin gets a session bound to its own address: it links no service elsewhere", async () => {
    const server = await testServer();
    const victimNat = relay("127.0.0.3", server.url); // the victim's service reports from here
    const service = await testService(victimNat.url, { credentials: await enrollWith(server.url) });
    // The attacker's program, at 127.0.0.2, claims to be the SaaS's own page.
    const answer = await requestFrom("127.0.0.2", server.url, "POST", "/v1/sessions", {
      headers: { origin: server.url },
    });
    expect(answer.status).toBe(201);
    const offer = JSON.parse(answer.body) as { id: string; tuples: number[][] };
    // The victim's browser knocks that code on the victim's machine.
    const { knockTuples } = await import("../../src/client/knock.ts");
    const { transports } = await import("../../plugins/transport/index.ts");
    await knockTuples(transports.tcp, offer.tuples, { settleMs: 0, origin: new URL(server.url).origin });
    await eventually(() => service.reports.some((r) => r.answer), "the victim service's report");
    expect(service.reports.map((r) => r.answer?.code)).toContain("OTHER_ORIGIN");
    expect(service.reports.some((r) => r.answer?.linked)).toBe(false);
    expect((await backendApi(server.url).status(offer.id)).state).toBe("pending");
    // And an Origin that is not allowed creates nothing at all.
    const evil = await requestFrom("127.0.0.2", server.url, "POST", "/v1/sessions", {
      headers: { origin: "https://evil.example" },
    });
    expect(evil.status).toBe(403);
    expect(JSON.parse(evil.body).error.code).toBe("ORIGIN_NOT_ALLOWED");
  });
});
