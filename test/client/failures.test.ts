// `pkipc client` names why it did not link, with a stable code, well before its timeout: no service, an unknown service, another address, another origin, an origin the service refuses.
import { describe, expect, test } from "bun:test";
import type { ClientResult } from "../../src/client/index.ts";
import { backendApi, runPkipc, testServer, testService } from "../helpers.ts";

/** The client's timeout in these tests: an answer well under it was named, not waited out. */
const TIMEOUT = "30s";

async function client(server: string, ...args: string[]) {
  const start = performance.now();
  const run = await runPkipc(["client", "--server", server, "--json", "--timeout", TIMEOUT, ...args], 60_000);
  const ms = performance.now() - start;
  expect(run.code).toBe(2);
  return { result: JSON.parse(run.stdout) as ClientResult, ms };
}

describe("pkipc client names the cause", () => {
  test("no service on this computer: NO_SERVICE as soon as every knock is refused", async () => {
    const server = await testServer();
    const { result, ms } = await client(server.url);
    expect(result).toMatchObject({ linked: false, code: "NO_SERVICE", state: "pending" });
    expect(result.reason).toStartWith("NO_SERVICE: every knock was refused");
    console.log(`NO_SERVICE after ${Math.round(ms)} ms (process start included)`);
    expect(ms).toBeLessThan(15_000);
  });

  test("a service this server does not know: SERVICE_NOT_ENROLLED, as the backend's status says", async () => {
    const server = await testServer();
    const stranger = {
      serviceId: "enrolled-elsewhere-01",
      key: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url"),
    };
    await testService(server.url, { credentials: stranger });
    const { result, ms } = await client(server.url);
    expect(result).toMatchObject({ linked: false, code: "SERVICE_NOT_ENROLLED" });
    expect(result.reason).toContain("does not know it");
    expect(ms).toBeLessThan(15_000);
    expect(await backendApi(server.url).status(result.sessionId)).toMatchObject({
      state: "pending",
      reason: "SERVICE_NOT_ENROLLED",
    });
  });

  test("the backend states another user address than the knocks come from: ADDRESS_MISMATCH naming both", async () => {
    const server = await testServer();
    await testService(server.url);
    const { result, ms } = await client(server.url, "--address", "::1");
    expect(result).toMatchObject({ linked: false, code: "ADDRESS_MISMATCH" });
    expect(result.reason).toContain("::1");
    expect(result.reason).toContain("127.0.0.1");
    expect(ms).toBeLessThan(15_000);
  });

  test("knocks that state another web origin than the session's: ORIGIN_NOT_PROVEN", async () => {
    const server = await testServer();
    await testService(server.url);
    const { result } = await client(server.url, "--origin", "https://another-site.example");
    expect(result).toMatchObject({ linked: false, code: "ORIGIN_NOT_PROVEN" });
    expect(result.reason).toContain("https://another-site.example");
  });

  test("a service whose user does not allow the session's origin: SERVICE_REFUSED_ORIGIN", async () => {
    const server = await testServer();
    await testService(server.url, { allowOrigins: ["https://only-this.example"] });
    const { result } = await client(server.url);
    expect(result).toMatchObject({ linked: false, code: "SERVICE_REFUSED_ORIGIN" });
    expect(result.reason).toContain(`does not allow ${new URL(server.url).origin}`);
  });

  test("--address without an API key is refused with one sentence", async () => {
    const server = await testServer();
    const run = await runPkipc(["client", "--server", server.url, "--address", "::1"], 30_000, { PKIPC_API_KEY: "" });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("stating the user's address needs the SaaS backend's API key");
  });
});
