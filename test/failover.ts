// One failover drill for every replicated Redis mode (Sentinel, Cluster): two server instances (the compiled binary)
// and a service on the store, 16 clients creating and linking sessions, enrolling services and issuing API keys
// while the test's `failover` kills a primary; then what every such test requires of pkipc.
import { expect } from "bun:test";
import { transports } from "../plugins/transport/index.ts";
import { knockTuples } from "../src/client/knock.ts";
import { findFreeRange } from "../src/lib/ports.ts";
import { apiClient } from "../src/protocol/api-client.ts";
import type { Report } from "../src/protocol/schemas.ts";
import { apiKeyOf, enrollmentToken, serverProcess, serviceProcess } from "./helpers.ts";

/** A report that claims every port of `tuples` (server-match), as a service would send after seeing those knocks. */
const reportOf = (tuples: number[][], pid: number): Report => ({
  process: { pid, ppid: 1, uid: 1000, user: "tests", exe: "/usr/bin/chromium", name: "chromium" },
  claim: { strategy: "server-match", observed: tuples.flat(), failed: [] },
});

/** The first refusal of each kind of request and status other than 503 (its message), for a failure to show. */
const refusals = new Map<string, string>();

/** Notes an admin call's refusal other than 503 (its body) among the refusals. */
async function noteRefusal(what: string, response: Response | undefined): Promise<void> {
  if (!response || response.status < 300 || response.status === 503) return;
  const kind = `${what} ${response.status}`;
  if (!refusals.has(kind) && refusals.size < 32) refusals.set(kind, (await response.clone().text()).slice(0, 300));
}

/** What a request came to: its HTTP status (2xx, 503, ...) or "hung" when no answer came within 10 s. */
async function outcome(what: string, call: () => Promise<unknown>): Promise<number | "hung"> {
  return call().then(
    () => 200,
    (e) => {
      const status = (e as { status?: number }).status;
      const result = typeof status === "number" && status > 0 ? status : "hung";
      const kind = `${what} ${result}`;
      if (result !== 503 && !refusals.has(kind) && refusals.size < 32) refusals.set(kind, (e as Error).message);
      return result;
    },
  );
}

export interface Drill {
  /** Kills a primary and resolves once a replica was promoted in its place (throws when none is within 30 s). */
  failover(): Promise<void>;
  /** More faults after the link was checked, under the same load (a sentinel restart, a second primary lost). */
  then?(): Promise<void>;
}

/**
 * Runs the drill on the store at `url`. Required: every request answered 2xx or 503, never hung; a link through
 * the service (never restarted) within 10 s of the promotion; every enrollment and API key answered 201 still
 * there at the end; both instances and the service still running.
 */
export async function failoverDrill(url: string, drill: Drill): Promise<void> {
  refusals.clear();
  const range = findFreeRange(64);
  const raised = "100000,100000";
  const flags = [
    "--store",
    url,
    "--range",
    `${range.start}-${range.end}`,
    "--session-rate",
    raised,
    "--api-key-session-rate",
    raised,
    "--api-key-call-rate",
    raised,
  ];
  flags.push(
    "--service-report-rate",
    raised,
    "--address-report-rate",
    raised,
    "--enroll-rate",
    raised,
    "--service-request-rate",
    raised,
    "--read-rate",
    raised,
    // The clients make sessions faster than a failover lets them link: on a fast machine the 5,000 pending
    // sessions an API key may hold were reached within the drill (429), which is a quota's answer, not the store's.
    "--max-sessions",
    "1000000",
    "--max-sessions-per-api-key",
    "1000000",
  );
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
      count(await outcome("create", async () => (tuples = (await api(create).createSession()).tuples)));
      if (tuples)
        count(
          await outcome("report", () =>
            (report === b ? signed : apiClient(a.url, { credentials, timeoutMs: 10_000 })).report(
              reportOf(tuples!, 10_000 * n + round),
            ),
          ),
        );
      if (n % 4 === 1) {
        const response = await fetch(`${a.url}/v1/admin/tokens`, {
          method: "POST",
          headers: admin,
          signal: AbortSignal.timeout(10_000),
        }).catch(() => undefined);
        count(response?.status ?? "hung");
        await noteRefusal("token", response);
        if (response?.status === 201) {
          const token = ((await response.json()) as { token: string }).token;
          count(
            await outcome("enroll", async () =>
              services.push(
                (await apiClient(b.url, { timeoutMs: 10_000 }).enroll(token, `late-${n}-${round}`)).serviceId,
              ),
            ),
          );
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
        await noteRefusal("api-key", response);
        if (response?.status === 201) apiKeys.push(((await response.json()) as { id: string }).id);
      }
    }
  });

  try {
    await Bun.sleep(1_500);
    await drill.failover();
    const promotedAt = Date.now();

    // A browser's knocks reach the running service (never restarted), which links through B.
    let linkedAfterMs: number | undefined;
    const tries: string[] = []; // what each try came to, shown when none linked
    while (linkedAfterMs === undefined && Date.now() - promotedAt < 20_000) {
      const offer = await api(a)
        .createSession()
        .catch((e) => void tries.push(`create: ${(e as Error).message}`));
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
    console.log(`a service link ${linkedAfterMs ?? "never"} ms after the promotion`);
    // What each try came to and what the service said: a CI log may keep only the failure's message.
    if (linkedAfterMs === undefined || linkedAfterMs >= 10_000)
      throw new Error(
        `no link within 10 s of the promotion (${linkedAfterMs ?? "none in 20 s"}); outcomes so far ${JSON.stringify(Object.fromEntries(outcomes))}; last tries: ${tries.slice(-10).join(" | ")}\nservice log:\n${service.log.lines.slice(-25).join("\n")}\nserver A log:\n${a.log.lines.slice(-10).join("\n")}\nserver B log:\n${b.log.lines.slice(-10).join("\n")}`,
      );

    await drill.then?.();
  } finally {
    stop = true;
    await Promise.all(clients);
  }

  console.log(
    `outcomes through the failover: ${JSON.stringify(Object.fromEntries(outcomes))}; ${services.length} services and ${apiKeys.length} API keys acknowledged`,
  );
  const summary = JSON.stringify(Object.fromEntries(outcomes));
  expect(outcomes.get("hung") ?? 0, `requests that hung: ${summary}`).toBe(0);
  const statuses = [...outcomes.keys()] as number[];
  expect(
    statuses.filter((s) => !(s >= 200 && s < 300) && s !== 503),
    `statuses other than 2xx and 503: ${summary}; first of each: ${JSON.stringify(Object.fromEntries(refusals))}\nserver A log:\n${a.log.lines.slice(-10).join("\n")}\nserver B log:\n${b.log.lines.slice(-10).join("\n")}`,
  ).toEqual([]);
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
}

/**
 * A replica stops acknowledging (SIGSTOP of `replicaPid`) under an instance with admin secret `adminSecret`: every
 * API key (`tries` times: a WAIT sent to another primary would answer at once) and an enrollment token are
 * answered 503 with the reason, never 201 unreplicated; 201 again once it is back (SIGCONT).
 */
export async function replicaLagDrill(url: string, adminSecret: string, replicaPid: number, tries = 1): Promise<void> {
  const issue = () =>
    fetch(`${url}/v1/admin/api-keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminSecret}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "during-lag", origin: "https://saas.example" }),
      signal: AbortSignal.timeout(10_000),
    });
  expect((await issue()).status).toBe(201);
  process.kill(replicaPid, "SIGSTOP");
  try {
    for (let i = 0; i < tries; i++) {
      const started = Date.now();
      const lagging = await issue();
      expect(lagging.status).toBe(503);
      expect(((await lagging.json()) as { error: { message: string } }).error.message).toMatch(
        /no replica of the shared store .* acknowledged the write within 1000 ms/,
      );
      expect(Date.now() - started).toBeLessThan(5_000); // the 1 s wait, not a hang
    }
    const token = await fetch(`${url}/v1/admin/tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminSecret}` },
      signal: AbortSignal.timeout(10_000),
    });
    expect(token.status).toBe(503);
  } finally {
    process.kill(replicaPid, "SIGCONT");
  }
  expect((await issue()).status).toBe(201);
}
