// A hostile local program (another user's, on the same computer) that saw a victim's knocked ports sends an unsigned
// report of them before the victim's service does. The server marks the session SERVICE_NOT_ENROLLED (a hint for the
// backend), but a report that proves nothing must stop nothing: the victim's page and pkipc client keep waiting and
// link when the real service reports, and the backend sees the reason only if nothing linked within a grace. Also two
// client bounds found beside it: the page's polls end with link(), and pkipc client never reads the status in a loop
// without a pause.
import { afterEach, describe, expect, test } from "bun:test";
import { tcp } from "../../plugins/transport/tcp.ts";
import { type LinkOptions, link } from "../../src/client/browser/index.ts";
import { runClient } from "../../src/client/index.ts";
import type { KnockTransport } from "../../src/protocol/transport.ts";
import type { SessionStatus } from "../../src/protocol/schemas.ts";
import { backendApi, testServer, testService } from "../helpers.ts";
import { testRedis } from "../redis.ts";
import { FAKE_PROCESS, requestFrom } from "./tools.ts";

const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

/** The attacker: an unsigned report of `ports`, from the victim's own address (the same computer). */
async function unsignedReport(server: string, ports: number[], origin: string): Promise<number> {
  const body = JSON.stringify({
    process: FAKE_PROCESS,
    claim: { strategy: "server-match", observed: ports, failed: [] },
    origin,
  });
  const answer = await requestFrom("127.0.0.1", server, "POST", "/v1/reports", {
    headers: { "content-type": "application/json" },
    body,
  });
  return answer.status;
}

/** tcp knocks, but the attacker reports the whole code the moment the first knock goes out (before any service can). */
function racedBy(server: string, ports: () => number[], origin: string, said: number[]): KnockTransport {
  let first: Promise<void> | undefined;
  return {
    name: "tcp",
    async knock(target, signal, events) {
      // then a pause, so the victim's status poll surely sees the mark before any knock lands
      first ??= unsignedReport(server, ports(), origin).then((status) => (said.push(status), Bun.sleep(300)));
      await first;
      return tcp.knock(target, signal, events);
    },
  };
}

/**
 * An integrator's backend as docs/integrating.md tells it to wait (plain HTTP): long polls of
 * `GET /v1/sessions/{id}?wait=25&since=VERSION`, each with the version the last returned, until the session leaves
 * pending or names a `reason`, on which it gives up. Every status it read, in order. A poll answers when the status
 * changes or a deadline passes (a reason becoming visible is one): one held past 15 s fails the test.
 */
async function integratorWaits(server: string, apiKey: string, id: string): Promise<SessionStatus[]> {
  const seen: SessionStatus[] = [];
  let version = 0;
  for (let turn = 0; turn < 20; turn++) {
    const response = await realFetch(`${server}/v1/sessions/${id}?wait=25&since=${version}`, {
      headers: { authorization: `Bearer ${apiKey}` },
      signal: AbortSignal.timeout(15_000),
    });
    expect(response.status).toBe(200);
    const status = (await response.json()) as SessionStatus;
    seen.push(status);
    if (status.state !== "pending" || status.reason !== undefined) return seen;
    version = status.version;
  }
  throw new Error(`still pending with no reason after 20 polls: ${JSON.stringify(seen.at(-1))}`);
}

/**
 * Where the reports go and where the backend polls: one server on memory; on Redis two instances of one store,
 * the reports to the first and the backend's polls to the second (it learns of the mark from the store alone).
 */
async function deployment(store: "memory" | "redis") {
  if (store === "memory") {
    const server = await testServer();
    return { reports: server.url, backend: server.url, apiKey: server.apiKey };
  }
  const url = (await testRedis()).url;
  const first = await testServer({ store: url });
  const second = await testServer({ store: url });
  return { reports: first.url, backend: second.url, apiKey: first.apiKey };
}

for (const store of ["memory", "redis"] as const) {
  describe(`a backend waiting as integrators do, on ${store}`, () => {
    test("an unsigned report of the code comes first, the real service links: the backend sees linked, never SERVICE_NOT_ENROLLED", async () => {
      const { reports, backend, apiKey } = await deployment(store);
      await testService(reports);
      const session = await backendApi(reports).createSession();
      const waiting = integratorWaits(backend, apiKey, session.id);
      const origin = new URL(reports).origin;
      const said: number[] = [];
      const knocks = racedBy(reports, () => session.tuples.flat(), origin, said);
      const transport: Extract<LinkOptions["transport"], object> = {
        name: "tcp",
        knock: ({ host, port }, signal) => knocks.knock({ host, port, origin }, signal),
      };
      const result = await link({ server: reports, session, transport, timeoutMs: 10_000 });
      expect(said).toEqual([401]);
      expect(result.status.state).toBe("linked");
      const seen = await waiting;
      // the attacker's mark was stored before the link (a version without a link), and woke the backend's poll
      expect(seen.some((s) => s.state === "pending" && s.version > 0)).toBe(true);
      expect(seen.map((s) => s.reason).filter((r) => r !== undefined)).toEqual([]); // before: SERVICE_NOT_ENROLLED
      expect(seen.at(-1)).toMatchObject({ state: "linked" });
    });

    test("an unsigned report and no service to link: the backend's long poll wakes with SERVICE_NOT_ENROLLED once the grace is over", async () => {
      const { reports, backend, apiKey } = await deployment(store);
      const session = await backendApi(reports).createSession();
      expect(await unsignedReport(reports, session.tuples.flat(), new URL(reports).origin)).toBe(401);
      const seen = await integratorWaits(backend, apiKey, session.id);
      expect(seen.at(-1)).toMatchObject({ state: "pending", reason: "SERVICE_NOT_ENROLLED" });
      expect(seen.at(-1)?.detail).toContain("does not know it");
    });
  });
}

test("an unsigned report comes first while the real service asks its user (longer than the grace): the backend sees confirming, then linked, never the reason", async () => {
  const server = await testServer();
  const asked: string[] = [];
  // the person at the computer takes 3 s to say yes: past the grace of an unproven reason
  await testService(server.url, {
    confirm: async (process) => (asked.push(process.name), await Bun.sleep(3000), true),
  });
  const session = await backendApi(server.url).createSession();
  const waiting = integratorWaits(server.url, server.apiKey, session.id);
  const origin = new URL(server.url).origin;
  const said: number[] = [];
  const knocks = racedBy(server.url, () => session.tuples.flat(), origin, said);
  const result = await link({
    server: server.url,
    session,
    transport: { name: "tcp", knock: ({ host, port }, signal) => knocks.knock({ host, port, origin }, signal) },
    timeoutMs: 15_000,
  });
  expect(said).toEqual([401]);
  expect(asked).toEqual(["bun"]);
  expect(result.status.state).toBe("linked");
  const seen = await waiting;
  expect(seen.some((s) => s.confirming === true)).toBe(true);
  expect(seen.map((s) => s.reason).filter((r) => r !== undefined)).toEqual([]);
  expect(seen.at(-1)).toMatchObject({ state: "linked" });
});

test("an unsigned report does not replace a reason a signed one gave: SERVICE_REFUSED_ORIGIN stays, shown at once", async () => {
  const server = await testServer();
  await testService(server.url, { allowOrigins: ["https://another.example"] });
  const session = await backendApi(server.url).createSession();
  const origin = new URL(server.url).origin;
  const refused = await link({
    server: server.url,
    session,
    transport: { name: "tcp", knock: ({ host, port }, signal) => tcp.knock({ host, port, origin }, signal) },
    timeoutMs: 10_000,
  }).catch((e) => e);
  expect((refused as { code?: string }).code).toBe("SERVICE_REFUSED_ORIGIN");
  expect(await unsignedReport(server.url, session.tuples.flat(), origin)).toBe(401);
  // before: the unsigned report overwrote it with SERVICE_NOT_ENROLLED
  expect(await backendApi(server.url).status(session.id)).toMatchObject({
    state: "pending",
    reason: "SERVICE_REFUSED_ORIGIN",
  });
});

test("pkipc client links though an unsigned report of its code came first", async () => {
  const server = await testServer();
  await testService(server.url);
  const said: number[] = [];
  let code: number[] = [];
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const response = await realFetch(input, init);
    const url = String(input instanceof Request ? input.url : input);
    if (/\/v1\/sessions(\?|$)/.test(url) && init?.method === "POST")
      code = ((await response.clone().json()) as { tuples: number[][] }).tuples.flat();
    return response;
  }) as typeof fetch;
  const origin = new URL(server.url).origin;
  const result = await runClient({
    server: server.url,
    transport: racedBy(server.url, () => code, origin, said),
    timeoutMs: 10_000,
  });
  expect(code.length).toBeGreaterThan(0);
  expect(said).toEqual([401]); // the attacker's report was refused, and came first
  expect(result).toMatchObject({ linked: true });
});

test("the page links though an unsigned report of its code came first", async () => {
  const server = await testServer();
  await testService(server.url);
  const session = await backendApi(server.url).createSession();
  const origin = new URL(server.url).origin;
  const said: number[] = [];
  const knocks = racedBy(server.url, () => session.tuples.flat(), origin, said);
  const transport: Extract<LinkOptions["transport"], object> = {
    name: "tcp",
    knock: ({ host, port }, signal) => knocks.knock({ host, port, origin }, signal),
  };
  const result = await link({ server: server.url, session, transport, timeoutMs: 10_000 });
  expect(said).toEqual([401]);
  expect(result.status.state).toBe("linked");
});

test("with no service, the page names the unproven reason only once its knocks are over and none linked", async () => {
  const server = await testServer();
  const session = await backendApi(server.url).createSession();
  expect(await unsignedReport(server.url, session.tuples.flat(), new URL(server.url).origin)).toBe(401);
  const slow: Extract<LinkOptions["transport"], object> = {
    name: "probe",
    knock: async ({ port }) => (await Bun.sleep(50), { port, landed: undefined, ms: 50 }),
  };
  const events: string[] = [];
  const error = await link({
    server: server.url,
    session,
    transport: slow,
    timeoutMs: 30_000,
    onProgress: (e) => events.push(e.type),
  }).catch((e) => e);
  expect((error as { code?: string }).code).toBe("SERVICE_NOT_ENROLLED");
  expect(events).toContain("waiting"); // before: the page gave up at the mark, while it was still knocking
});

test("link() leaves no status poll open when it fails before its deadline", async () => {
  const server = await testServer();
  const session = await backendApi(server.url).createSession();
  let open = 0;
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    if (!String(input instanceof Request ? input.url : input).includes("/v1/sessions/")) return realFetch(input, init);
    open++;
    try {
      return await realFetch(input, init);
    } finally {
      open--;
    }
  }) as typeof fetch;
  const quiet: Extract<LinkOptions["transport"], object> = {
    name: "probe",
    knock: async ({ port }) => ({ port, landed: undefined, ms: 0 }),
  };
  const error = await link({ server: server.url, session, transport: quiet, timeoutMs: 30_000 }).catch((e) => e);
  expect((error as { code?: string }).code).toBe("NO_SERVICE");
  await Bun.sleep(500);
  expect(open).toBe(0); // before: a long poll stayed open until the 30 s deadline
});

test("pkipc client, every knock refused and the status read failing, pauses between reads (it spun 120,000 times in 2 s)", async () => {
  const server = await testServer();
  let reads = 0;
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input);
    if (!/\/v1\/sessions\/[^/?]+(\?|$)/.test(url) || (init?.method ?? "GET") !== "GET") return realFetch(input, init);
    if (url.includes("wait=")) {
      // the long poll stays open until it is cut short, as a real one does while nothing links
      return new Promise<Response>((_, reject) =>
        init?.signal?.addEventListener("abort", () => reject(init.signal!.reason)),
      );
    }
    reads++;
    throw new TypeError("fetch failed (the server restarting)");
  }) as typeof fetch;
  const refused: KnockTransport = {
    name: "refused",
    async knock({ port }) {
      await Bun.sleep(50);
      return { port, landed: false, ms: 0, error: "ECONNREFUSED" };
    },
  };
  await runClient({ server: server.url, timeoutMs: 2000, transport: refused }).catch(() => {});
  expect(reads).toBeGreaterThan(0);
  expect(reads).toBeLessThan(40); // a read every 100 ms at most over 2 s
});
