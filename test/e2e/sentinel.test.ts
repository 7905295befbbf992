// Two server instances (the compiled binary) on a real Sentinel deployment: the primary is killed under load, a sentinel restarts.
import { describe, expect, test } from "bun:test";
import { transports } from "../../plugins/transport/index.ts";
import { knockTuples } from "../../src/client/knock.ts";
import { findFreeRange } from "../../src/lib/ports.ts";
import { apiClient } from "../../src/protocol/api-client.ts";
import type { Report } from "../../src/protocol/schemas.ts";
import { apiKeyOf, enrollmentToken, serverProcess, serviceProcess } from "../helpers.ts";
import { testSentinels } from "../redis-sentinel.ts";

/** A report that claims every port of `tuples` (server-match), as a service would send after seeing those knocks. */
const reportOf = (tuples: number[][], pid: number): Report => ({
  process: { pid, ppid: 1, uid: 1000, user: "tests", exe: "/usr/bin/chromium", name: "chromium" },
  claim: { strategy: "server-match", observed: tuples.flat(), failed: [] },
});

/** What a request came to: its HTTP status (2xx, 503, ...) or "hung" when no answer came within 10 s. */
async function outcome(call: () => Promise<unknown>): Promise<number | "hung"> {
  return call().then(
    () => 200,
    (e) => {
      const status = (e as { status?: number }).status;
      return typeof status === "number" && status > 0 ? status : "hung";
    },
  );
}

describe("a Sentinel deployment (a primary, a replica, three sentinels)", () => {
  test("the primary is killed while 16 clients create and link sessions, then a sentinel restarts: every request answered 2xx or 503, links resume within 10 s of the promotion, every acknowledged enrollment and API key survives", async () => {
    const deployment = await testSentinels();
    const range = findFreeRange(64);
    const raised = "100000,100000";
    const flags = ["--store", deployment.url, "--range", `${range.start}-${range.end}`, "--session-rate", raised, "--api-key-session-rate", raised, "--api-key-call-rate", raised];
    flags.push("--service-report-rate", raised, "--address-report-rate", raised, "--enroll-rate", raised, "--service-request-rate", raised, "--read-rate", raised);
    const a = await serverProcess(flags);
    const b = await serverProcess(flags);
    const service = await serviceProcess(b.url);
    const admin = { authorization: `Bearer ${a.adminSecret}` };
    const api = (via: typeof a) => apiClient(via.url, { apiKey: apiKeyOf(a.url), timeoutMs: 10_000 });

    // Acknowledged writes, checked after the failover.
    const services: string[] = [];
    const apiKeys: string[] = [];
    const outcomes = new Map<number | "hung", number>();
    const count = (o: number | "hung") => outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
    let stop = false;

    // 16 clients: each creates a session through one instance and links it by a signed report through the
    // other; every fourth client also enrolls a service or issues an API key each round.
    const clients = Array.from({ length: 16 }, async (_, n) => {
      const credentials = await apiClient(a.url).enroll(await enrollmentToken(a.url), `client-${n}`);
      services.push(credentials.serviceId);
      const signed = apiClient(b.url, { credentials, timeoutMs: 10_000 });
      for (let round = 0; !stop; round++) {
        const [create, report] = n % 2 === 0 ? [a, b] : [b, a];
        let tuples: number[][] | undefined;
        count(await outcome(async () => (tuples = (await api(create).createSession()).tuples)));
        if (tuples) count(await outcome(() => (report === b ? signed : apiClient(a.url, { credentials, timeoutMs: 10_000 })).report(reportOf(tuples!, 10_000 * n + round))));
        if (n % 4 === 1) {
          const response = await fetch(`${a.url}/v1/admin/tokens`, { method: "POST", headers: admin, signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
          count(response?.status ?? "hung");
          if (response?.status === 201) {
            const token = ((await response.json()) as { token: string }).token;
            count(await outcome(async () => services.push((await apiClient(b.url, { timeoutMs: 10_000 }).enroll(token, `late-${n}-${round}`)).serviceId)));
          }
        }
        if (n % 4 === 3) {
          const response = await fetch(`${b.url}/v1/admin/api-keys`, {
            method: "POST",
            headers: { authorization: `Bearer ${b.adminSecret}`, "content-type": "application/json" },
            body: JSON.stringify({ name: `key-${n}-${round}`, origin: "https://saas.example" }),
            signal: AbortSignal.timeout(10_000),
          }).catch(() => undefined);
          count(response?.status ?? "hung");
          if (response?.status === 201) apiKeys.push(((await response.json()) as { id: string }).id);
        }
      }
    });

    await Bun.sleep(1_500);
    const oldPrimary = deployment.primary.port;
    await deployment.primary.kill();
    // The sentinels notice (down after 1 s) and promote the replica.
    const promotedBy = Date.now() + 30_000;
    while ((await deployment.masterPort()) === oldPrimary) {
      if (Date.now() > promotedBy) throw new Error("the sentinels promoted no replica within 30 s");
      await Bun.sleep(100);
    }
    const promotedAt = Date.now();
    expect(await deployment.masterPort()).toBe(deployment.replica.port);

    // A browser's knocks reach the running service (never restarted), which links through B.
    let linkedAfterMs: number | undefined;
    const tries: string[] = []; // what each try came to, shown when none linked
    while (linkedAfterMs === undefined && Date.now() - promotedAt < 20_000) {
      const offer = await api(a).createSession().catch((e) => void tries.push(`create: ${(e as Error).message}`));
      if (offer) {
        await knockTuples(transports.tcp, offer.tuples, { settleMs: 2, origin: new URL(a.url).origin });
        const status = await api(b)
          .status(offer.id, { seconds: 3, since: 0 })
          .catch((e) => void tries.push(`status: ${(e as Error).message}`));
        if (status?.state === "linked") linkedAfterMs = Date.now() - promotedAt;
        else if (status) tries.push(`status: ${status.state}`);
      }
      if (linkedAfterMs === undefined) await Bun.sleep(200);
    }
    console.log(`a service link ${linkedAfterMs ?? "never"} ms after the promotion${linkedAfterMs === undefined ? `; tries: ${tries.slice(-10).join(" | ")}; service log: ${service.log.lines.slice(-15).join("\n")}` : ""}`);
    expect(linkedAfterMs).toBeDefined();
    expect(linkedAfterMs!).toBeLessThan(10_000);

    // A sentinel restarts (from the file it rewrote) while the load goes on.
    await deployment.sentinels[0]!.kill();
    await Bun.sleep(500);
    await deployment.sentinels[0]!.start();
    await Bun.sleep(1_500);
    stop = true;
    await Promise.all(clients);

    console.log(`outcomes through the failover: ${JSON.stringify(Object.fromEntries(outcomes))}; ${services.length} services and ${apiKeys.length} API keys acknowledged`);
    expect(outcomes.get("hung") ?? 0).toBe(0);
    const statuses = [...outcomes.keys()] as number[];
    expect(statuses.filter((s) => !(s >= 200 && s < 300) && s !== 503)).toEqual([]); // e.g. [500] names the status
    expect(outcomes.get(503) ?? 0).toBeGreaterThan(0); // the failover was seen under load, not between requests

    // Nothing acknowledged was lost: every service and API key answered 2xx is on the promoted primary.
    const listed = async (path: string, field: string) => {
      const response = await fetch(`${b.url}${path}`, { headers: { authorization: `Bearer ${b.adminSecret}` } });
      expect(response.status).toBe(200);
      return ((await response.json()) as Record<string, { id: string }[]>)[field]!.map((x) => x.id);
    };
    const knownServices = new Set(await listed("/v1/admin/services", "services"));
    const knownKeys = new Set(await listed("/v1/admin/api-keys", "apiKeys"));
    expect(services.filter((id) => !knownServices.has(id))).toEqual([]);
    expect(apiKeys.filter((id) => !knownKeys.has(id))).toEqual([]);
    expect(apiKeys.length).toBeGreaterThan(0);
    expect(a.child.exitCode).toBeNull();
    expect(b.child.exitCode).toBeNull();
    expect(service.child.exitCode).toBeNull();
  }, 120_000);

  // Through the sentinels and straight to the primary (redis://): a primary with replicas waits for one either way.
  for (const via of ["redis+sentinel://", "redis://"] as const) {
    test(`a replica stops acknowledging (SIGSTOP), store ${via}: an API key and an enrollment token are answered 503 with the reason, never 201 unreplicated; 201 again once it is back`, async () => {
      const deployment = await testSentinels();
      const a = await serverProcess(["--store", via === "redis://" ? `redis://127.0.0.1:${deployment.primary.port}` : deployment.url]);
      const issue = () =>
        fetch(`${a.url}/v1/admin/api-keys`, {
          method: "POST",
          headers: { authorization: `Bearer ${a.adminSecret}`, "content-type": "application/json" },
          body: JSON.stringify({ name: "during-lag", origin: "https://saas.example" }),
          signal: AbortSignal.timeout(10_000),
        });
      expect((await issue()).status).toBe(201);
      process.kill(deployment.replica.pid(), "SIGSTOP");
      try {
        const started = Date.now();
        const lagging = await issue();
        expect(lagging.status).toBe(503);
        expect(((await lagging.json()) as { error: { message: string } }).error.message).toMatch(/no replica of the shared store .* acknowledged the write within 1000 ms/);
        expect(Date.now() - started).toBeLessThan(5_000); // the 1 s wait, not a hang
        const token = await fetch(`${a.url}/v1/admin/tokens`, { method: "POST", headers: { authorization: `Bearer ${a.adminSecret}` }, signal: AbortSignal.timeout(10_000) });
        expect(token.status).toBe(503);
      } finally {
        process.kill(deployment.replica.pid(), "SIGCONT");
      }
      expect((await issue()).status).toBe(201);
    }, 60_000);
  }
});
