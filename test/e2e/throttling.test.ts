// Throttling said out loud: clients wait out a session limit, say why they did not link, and exit 2; the
// service and the server each log throttling once per episode, not once per request (nor never).
import { describe, expect, test } from "bun:test";
import type { ClientResult } from "../../src/client/index.ts";
import { runPkipc, serverProcess, serviceProcess } from "../helpers.ts";

describe("throttled clients and services", () => {
  test("clients started at once past the session burst wait out the limit and all link", async () => {
    const server = await serverProcess(["--session-rate", "0.5,1"]);
    await serviceProcess(server.url);
    // As pages of the server's own origin (no API key), so the per-address session limit applies.
    const runs = await Promise.all(
      Array.from({ length: 4 }, () =>
        runPkipc(["client", "--server", server.url, "--json", "--timeout", "15s"], 30_000, { PKIPC_API_KEY: "" }),
      ),
    );
    for (const run of runs) {
      expect(run.code).toBe(0);
      expect((JSON.parse(run.stdout) as ClientResult).linked).toBe(true);
    }
    await server.log.waitFor(/throttling: too many sessions from this address/);
  });

  test("a client the server refuses exits 2 with one sentence, not a stack", async () => {
    const server = await serverProcess(["--max-sessions", "1"]);
    // No service: the first client's session stays pending (live) for its 30 s, so the next is refused (503).
    const first = await runPkipc(["client", "--server", server.url, "--timeout", "1s"], 30_000);
    expect(first.code).toBe(2);
    const refused = await runPkipc(["client", "--server", server.url, "--timeout", "2s"], 30_000);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe("");
    const lines = refused.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^pkipc client: not linked: too many live sessions/);
  });

  test("a service over its report limit says so once, the server says so once, and the client is told it may be throttled", async () => {
    const server = await serverProcess(["--service-report-rate", "0.05,1"]);
    const service = await serviceProcess(server.url);
    const first = await runPkipc(["client", "--server", server.url, "--json", "--timeout", "10s"]);
    expect((JSON.parse(first.stdout) as ClientResult).linked).toBe(true);
    await Bun.sleep(1100); // past the service's retry window for the first code's ports
    // The second and third reports wait 20 s for a token: longer than these clients wait.
    const later = await Promise.all(
      [1, 2].map(() => runPkipc(["client", "--server", server.url, "--json", "--timeout", "3s"])),
    );
    for (const run of later) {
      expect(run.code).toBe(2);
      const result = JSON.parse(run.stdout) as ClientResult;
      expect(result.linked).toBe(false);
      // Usually "every knock landed, but…"; a knock the service resets early can read as refused.
      expect(result.knocks.landed).toBeGreaterThan(0);
      expect(result.reason).toContain("may be throttled by the server");
    }
    await service.log.waitFor(/reports throttled by the server, retrying in \d+ s/);
    await server.log.waitFor(/throttling: too many reports from this service/);
    expect(service.log.lines.filter((l) => l.includes("reports throttled by the server")).length).toBe(1);
    expect(server.log.lines.filter((l) => l.includes("throttling: too many reports from this service")).length).toBe(1);
  });
});
