// Several server instances (the compiled binary) on one redis-server: shared sessions, links, limits and long polls, through faults.
import { describe, expect, test } from "bun:test";
import { transports } from "../../plugins/transport/index.ts";
import { knockTuples } from "../../src/client/knock.ts";
import { findFreeRange } from "../../src/lib/ports.ts";
import { apiClient } from "../../src/protocol/api-client.ts";
import type { Report, SessionStatus } from "../../src/protocol/schemas.ts";
import {
  apiKeyOf,
  enrollmentToken,
  runPkipc,
  serverProcess,
  serviceProcess,
  spawnPkipc,
  watchLines,
} from "../helpers.ts";
import { type TestRedis, testRedis } from "../redis.ts";

type Instance = Awaited<ReturnType<typeof serverProcess>>;

/** `n` instances of `pkipc server` on `redis`, all over the same port range (a deployment gives each the same flags). */
async function instances(n: number, redis: TestRedis, args: string[] = []): Promise<Instance[]> {
  const range = findFreeRange(64);
  const started: Instance[] = [];
  for (let i = 0; i < n; i++) started.push(await startInstance(redis, range, args));
  return started;
}

const startInstance = (redis: TestRedis, range: { start: number; end: number }, args: string[] = []) =>
  serverProcess(["--store", redis.url, "--range", `${range.start}-${range.end}`, ...args]);

/** A backend of instance `owner` (its API key) calling instance `via`: API keys live in Redis, so any instance knows them. */
const backend = (owner: Instance, via: Instance = owner) =>
  apiClient(via.url, { apiKey: apiKeyOf(owner.url), timeoutMs: 10_000 });

/** Polls `via` until `done(status)` or the deadline, with long polls (each answers at the next change). */
async function waitForStatus(
  api: ReturnType<typeof backend>,
  id: string,
  done: (s: SessionStatus) => boolean,
  what: string,
): Promise<SessionStatus> {
  const end = Date.now() + 20_000;
  let status = await api.status(id);
  while (!done(status)) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last status ${JSON.stringify(status)}`);
    status = await api.status(id, { seconds: 2, since: status.version });
  }
  return status;
}

/**
 * A report that claims every port of `tuples` (server-match), as a service would send after seeing those
 * knocks from a page of `owner`'s origin (its API key's, the session's).
 */
const reportOf = (tuples: number[][], pid: number, owner: Instance): Report => ({
  process: { pid, ppid: 1, uid: 1000, user: "tests", exe: "/usr/bin/chromium", name: "chromium" },
  claim: { strategy: "server-match", observed: tuples.flat(), failed: [] },
  origin: new URL(owner.url).origin,
});

/** An enrolled service speaking HTTP itself (signed requests), enrolled through `via`. */
async function signedService(via: Instance) {
  const credentials = await apiClient(via.url).enroll(await enrollmentToken(via.url), "tests");
  return { credentials, on: (instance: Instance) => apiClient(instance.url, { credentials, timeoutMs: 10_000 }) };
}

describe("three instances on one Redis", () => {
  test("session from A, service reporting to B, long poll on C: the link and the instructions show on all three", async () => {
    const redis = await testRedis();
    const [a, b, c] = await instances(3, redis);
    const service = await serviceProcess(b!.url);
    const onA = backend(a!);
    const offer = await onA.createSession();
    await onA.queueInstruction(offer.id, { name: "log", args: { message: "queued-before-link" } });
    // The client's long poll waits on C while the knocks link through B.
    const poll = backend(a!, c!).status(offer.id, { seconds: 20, since: 1 });
    await knockTuples(transports.tcp, offer.tuples, { settleMs: 2, origin: new URL(a!.url).origin });
    const seen = await poll;
    expect(seen.state).toBe("linked");
    expect(seen.process?.name).toBe("bun");
    await service.log.waitFor(/instruction name=log.*queued-before-link/);
    // Queued on A after the link: the service pulls it through B.
    await onA.queueInstruction(offer.id, { name: "log", args: { message: "queued-after-link" } });
    await service.log.waitFor(/instruction name=log.*queued-after-link/);
    const done = (s: SessionStatus) => s.instructions.length === 2 && s.instructions.every((i) => i.state === "done");
    for (const via of [a!, b!, c!]) {
      const status = await waitForStatus(backend(a!, via), offer.id, done, `both instructions done on ${via.url}`);
      expect(status).toMatchObject({ state: "linked", process: { name: "bun" } });
    }
  });

  test("two instances race to link one session from two reports: exactly one links, every time", async () => {
    const redis = await testRedis();
    const [a, b] = await instances(2, redis, [
      "--service-report-rate",
      "1000,1000",
      "--address-report-rate",
      "1000,1000",
    ]);
    const first = await signedService(a!);
    const second = await signedService(b!);
    for (let round = 0; round < 20; round++) {
      const offer = await backend(a!).createSession();
      const answers = await Promise.all([
        first.on(a!).report(reportOf(offer.tuples, 1000 + round, a!)),
        second.on(b!).report(reportOf(offer.tuples, 2000 + round, a!)),
      ]);
      expect(answers.filter((x) => x.linked)).toHaveLength(1);
      const loser = answers.find((x) => !x.linked)!;
      expect(["ALREADY_LINKED", "NO_MATCH"]).toContain(loser.code!);
      const status = await backend(a!, b!).status(offer.id);
      expect(status.state).toBe("linked");
      expect(status.process?.pid).toBe(answers[0]!.linked ? 1000 + round : 2000 + round);
    }
  });

  test("a limit counts every instance's requests: the per-address session burst is shared", async () => {
    const redis = await testRedis();
    const [a, b, c] = await instances(3, redis, ["--api-key-session-rate", "0.1,4"]);
    const statuses: number[] = [];
    for (const via of [a!, b!, c!, a!, b!, c!]) {
      statuses.push(
        await backend(a!, via)
          .createSession()
          .then(
            () => 201,
            (e) => (e as { status: number }).status,
          ),
      );
    }
    expect(statuses).toEqual([201, 201, 201, 201, 429, 429]);
  });

  test("the live-session cap counts every instance's sessions, at once (checked by the insert itself)", async () => {
    const redis = await testRedis();
    const [a, b] = await instances(2, redis, ["--max-sessions", "3"]);
    const answers: number[] = [];
    for (const via of [a!, b!, a!, b!, a!]) {
      answers.push(
        await backend(a!, via)
          .createSession()
          .then(
            () => 201,
            (e) => (e as { status: number }).status,
          ),
      );
    }
    expect(answers).toEqual([201, 201, 201, 503, 503]);
  });

  test("a nonce is accepted once across instances: a signed request replayed to another instance is refused", async () => {
    const redis = await testRedis();
    const [a, b] = await instances(2, redis);
    const service = await signedService(a!);
    const offer = await backend(a!).createSession();
    const body = JSON.stringify(reportOf(offer.tuples, 77, a!));
    const { signRequest } = await import("../../src/protocol/signing.ts");
    const headers = {
      ...signRequest(service.credentials, { method: "POST", path: "/v1/reports", body }),
      "content-type": "application/json",
    };
    const once = await fetch(`${a!.url}/v1/reports`, { method: "POST", headers, body });
    expect(once.status).toBe(200);
    const replayed = await fetch(`${b!.url}/v1/reports`, { method: "POST", headers, body });
    expect(replayed.status).toBe(401);
    expect(((await replayed.json()) as { error: { code: string } }).error.code).toBe("REPLAYED");
  });
});

describe("revocation across instances", () => {
  test("a service or API key revoked through one instance is refused by the others within the 1 s lookup bound", async () => {
    const redis = await testRedis();
    const [a, b] = await instances(2, redis);
    const service = await signedService(a!);
    const onB = backend(a!, b!);
    const offer = await onB.createSession(); // B now trusts the API key (cached for a second)
    expect((await service.on(b!).report(reportOf([[offer.tuples[0]![0]!]], 1, a!))).linked).toBe(false); // B trusts the service too
    const headers = { authorization: `Bearer ${a!.adminSecret}` };
    expect(
      (await fetch(`${a!.url}/v1/admin/services/${service.credentials.serviceId}`, { method: "DELETE", headers }))
        .status,
    ).toBe(200);
    const keys = (await (await fetch(`${a!.url}/v1/admin/api-keys`, { headers })).json()) as {
      apiKeys: { id: string }[];
    };
    for (const { id } of keys.apiKeys)
      expect((await fetch(`${a!.url}/v1/admin/api-keys/${id}`, { method: "DELETE", headers })).status).toBe(200);
    const refusedBy = async (call: () => Promise<unknown>, code: string) => {
      const end = Date.now() + 5_000;
      for (;;) {
        const outcome = await call().then(
          () => "accepted",
          (e) => (e as { code: string }).code,
        );
        if (outcome === code) return;
        if (Date.now() > end) throw new Error(`still ${outcome} 5 s after the revocation (expected ${code})`);
        await Bun.sleep(100);
      }
    };
    await refusedBy(() => service.on(b!).report(reportOf([[offer.tuples[0]![0]!]], 2, a!)), "UNKNOWN_SERVICE");
    await refusedBy(() => onB.status(offer.id), "BAD_API_KEY");
  });
});

describe("instances fail and come back", () => {
  test("an instance is killed (SIGKILL) while a client waits on it: the client's next request to another instance sees the link", async () => {
    const redis = await testRedis();
    const [a, b, c] = await instances(3, redis);
    await serviceProcess(b!.url);
    const offer = await backend(a!).createSession();
    const waiting = backend(a!, a!)
      .status(offer.id, { seconds: 20, since: 0 })
      .then(
        () => "answered",
        () => "failed",
      );
    await Bun.sleep(100);
    a!.child.kill("SIGKILL");
    await a!.child.exited;
    expect(await waiting).toBe("failed");
    await knockTuples(transports.tcp, offer.tuples, { settleMs: 2, origin: new URL(a!.url).origin });
    const status = await waitForStatus(backend(a!, c!), offer.id, (s) => s.state === "linked", "the link on C");
    expect(status.process?.name).toBe("bun");
  });

  test("every instance restarted: live sessions still link, enrolled services still sign, revoked ones stay revoked, API keys still work", async () => {
    const redis = await testRedis();
    const range = findFreeRange(64);
    const first = [await startInstance(redis, range), await startInstance(redis, range)];
    const kept = await signedService(first[0]!);
    const revoked = await signedService(first[1]!);
    const apiKey = apiKeyOf(first[0]!.url);
    const offer = await apiClient(first[1]!.url, { apiKey }).createSession();
    const response = await fetch(`${first[0]!.url}/v1/admin/services/${revoked.credentials.serviceId}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${first[0]!.adminSecret}` },
    });
    expect(response.status).toBe(200);
    for (const instance of first) {
      instance.child.kill("SIGKILL");
      await instance.child.exited;
    }
    const [a, b] = [await startInstance(redis, range), await startInstance(redis, range)];
    const refused = await revoked
      .on(a!)
      .report(reportOf(offer.tuples, 5, first[0]!))
      .catch((e) => e as { status: number; code: string });
    expect(refused).toMatchObject({ status: 401, code: "UNKNOWN_SERVICE" });
    const answer = await kept.on(b!).report(reportOf(offer.tuples, 6, first[0]!));
    expect(answer.linked).toBe(true);
    const status = await apiClient(a!.url, { apiKey }).status(offer.id);
    expect(status).toMatchObject({ state: "linked", process: { pid: 6 } });
  });
});

describe("Redis faults", () => {
  /** Long polls on A for `n` fresh sessions; each resolves with the status it was answered with and how long after `changedAt()`. */
  async function pollsAcross(a: Instance, b: Instance, n: number) {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push((await backend(a).createSession()).id);
    const changedAt = new Map<string, number>();
    const polls = ids.map((id) =>
      backend(a)
        .status(id, { seconds: 30, since: 0 })
        .then((status) => ({ status, lateMs: Date.now() - changedAt.get(id)! })),
    );
    await Bun.sleep(300); // every poll is waiting
    return {
      polls,
      /** Changes every session through B (an instruction queued), which must wake every poll held on A. */
      async change() {
        for (const id of ids) {
          // From the request that makes the change: the answer may come back before the request's own.
          changedAt.set(id, Date.now());
          await backend(a, b).queueInstruction(id, { name: "log" });
        }
      },
    };
  }

  test("the subscriber's connection is killed (CLIENT KILL TYPE pubsub): every waiting poll still gets its answer", async () => {
    const redis = await testRedis();
    const [a, b] = await instances(2, redis);
    const { polls, change } = await pollsAcross(a!, b!, 5);
    expect(await redis.command("CLIENT", "KILL", "TYPE", "pubsub")).toBeGreaterThan(0);
    await change();
    const answered = await Promise.all(polls);
    for (const { status } of answered) expect(status.version).toBe(1);
    console.log(
      `right after CLIENT KILL TYPE pubsub: polls answered ${answered.map((x) => x.lateMs).join(", ")} ms after the change`,
    );
    // Both instances subscribe again by themselves: wake-ups go by pub/sub again, not only by the re-check.
    const end = Date.now() + 20_000;
    while (((await redis.command("PUBSUB", "NUMSUB", "pkipc:changed")) as [string, number])[1] !== 2) {
      if (Date.now() > end) throw new Error("the instances did not subscribe again after CLIENT KILL TYPE pubsub");
      await Bun.sleep(100);
    }
    const again = await pollsAcross(a!, b!, 5);
    await again.change();
    const later = await Promise.all(again.polls);
    for (const { status } of later) expect(status.version).toBe(1);
    console.log(`once subscribed again: polls answered ${later.map((x) => x.lateMs).join(", ")} ms after the change`);
  });

  test("Redis is restarted (saved and loaded again): every waiting poll still gets its answer", async () => {
    const redis = await testRedis();
    const [a, b] = await instances(2, redis);
    const { polls, change } = await pollsAcross(a!, b!, 5);
    await redis.restart();
    // The instances reconnect by themselves; until they do, a change gets 503 and is tried again.
    const end = Date.now() + 20_000;
    for (;;) {
      const ok = await fetch(`${b!.url}/healthz`).then((r) => r.ok);
      if (ok) break;
      if (Date.now() > end) throw new Error("instance B did not reconnect to Redis");
      await Bun.sleep(100);
    }
    await change();
    const answered = await Promise.all(polls);
    for (const { status } of answered) expect(status.version).toBe(1);
    console.log(
      `after a Redis restart: polls answered ${answered.map((x) => x.lateMs).join(", ")} ms after the change`,
    );
  });

  test("Redis down: 503 with one sentence, /healthz says the store is unreachable, the log says so once, nothing crashes, and it recovers by itself (and logs that)", async () => {
    const redis = await testRedis();
    const [a] = await instances(1, redis);
    expect((await backend(a!).createSession()).id).toBeString();
    await redis.stop();
    const refused = await fetch(`${a!.url}/v1/sessions`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiKeyOf(a!.url)}` },
    });
    expect(refused.status).toBe(503);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("STORE_UNAVAILABLE");
    expect(body.error.message).toBe(`the shared store (${redis.url}) is unreachable; try again shortly`);
    const health = await fetch(`${a!.url}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({
      ok: false,
      store: "redis",
      error: expect.stringContaining("unreachable"),
    });
    expect(a!.child.exitCode).toBeNull();
    // The operator learns of it from the log at once, and once: not at shutdown, not at every request.
    await fetch(`${a!.url}/v1/sessions`, { method: "POST", headers: { authorization: `Bearer ${apiKeyOf(a!.url)}` } });
    await a!.log.waitFor(/WARN.*the Redis store is unreachable/, 5_000);
    const said = a!.log.lines.filter((l) => /the Redis store is unreachable/.test(l));
    expect(said, said.join("\n")).toHaveLength(1);
    await redis.start();
    // An empty Redis: reachable again, but /healthz says what was lost (see redis-truth.test.ts) until the
    // operator acknowledges it; the API key is gone with it, so a new one is made through the admin API.
    const end = Date.now() + 20_000;
    while (
      !(await fetch(`${a!.url}/healthz`).then(async (r) => r.status === 503 && /lost its data/.test(await r.text())))
    ) {
      if (Date.now() > end) throw new Error("the instance did not notice that Redis came back empty");
      await Bun.sleep(100);
    }
    await a!.log.waitFor(/the Redis store is reachable again/, 5_000);
    const ack = await fetch(`${a!.url}/v1/admin/data-loss/acknowledge`, {
      method: "POST",
      headers: { authorization: `Bearer ${a!.adminSecret}` },
    });
    expect(await ack.json()).toEqual({ acknowledged: true });
    expect((await fetch(`${a!.url}/healthz`)).status).toBe(200);
    const again = await fetch(`${a!.url}/v1/admin/api-keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${a!.adminSecret}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "after", origin: "https://saas.example" }),
    });
    expect(again.status).toBe(201);
    const key = ((await again.json()) as { key: string }).key;
    expect((await apiClient(a!.url, { apiKey: key }).createSession()).id).toBeString();
    expect(a!.child.exitCode).toBeNull();
  });
});

describe("what an operator is told at start", () => {
  test("a Redis that may lose or evict what pkipc keeps, and an instance whose settings differ from the one before it, are warned about by name", async () => {
    const redis = await testRedis(); // started with appendonly no, as the tests run it
    await redis.command("CONFIG", "SET", "maxmemory-policy", "allkeys-lru");
    const range = findFreeRange(64);
    const a = await startInstance(redis, range);
    const log = a.log.lines.join("\n");
    expect(log).toMatch(/WARN.*appendonly no.*set appendonly yes/);
    expect(log).toMatch(/WARN.*maxmemory-policy allkeys-lru.*set maxmemory-policy noeviction/);
    expect(log).not.toMatch(/settings differ/);
    // A second instance with the same settings says nothing of them; one with another range and code does.
    const same = await startInstance(redis, range);
    expect(same.log.lines.join("\n")).not.toMatch(/settings differ/);
    const other = findFreeRange(64);
    const odd = await startInstance(redis, other, ["--code", "4x4"]);
    const warning = (await odd.log.waitFor(/WARN.*settings differ.*/, 5_000))[0];
    expect(warning).toContain(`range ${other.start}-${other.end} (other: ${range.start}-${range.end})`);
    expect(warning).toContain("code 4x4 (other: 3x4)");
    expect(warning).not.toContain("ttl");
  });
});

describe("--store", () => {
  test("a value that is neither memory nor a Redis URL is refused with one sentence", async () => {
    for (const [value, message] of [
      ["mysql://127.0.0.1:3306", /--store must be memory or a redis:\/\/ or rediss:\/\/ URL/],
      ["redis://127.0.0.1:6379/x", /the Redis database in redis:\/\/127\.0\.0\.1:6379\/x must be a number/],
      ["redis://", /names no host|is not a URL/],
      ["redis+sentinel://127.0.0.1:26379", /names no sentinels or no master name/],
      ["redis+sentinel://pkipc:hunter2@127.0.0.1:99999/main", /127\.0\.0\.1:99999 is not a sentinel's HOST:PORT/],
      ["rediss+sentinel://127.0.0.1:26379/main?tls-ca=x", /unknown option tls-ca in the Sentinel store URL/],
    ] as const) {
      const run = await runPkipc(["server", "--listen", "127.0.0.1:0", "--store", value]);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).not.toContain("    at ");
      expect(run.stderr).not.toContain("hunter2");
    }
  });

  test("PKIPC_STORE works like --store, and the password never shows in the log or on /healthz", async () => {
    const redis = await testRedis();
    const withPassword = redis.url.replace("redis://", "redis://pkipc:hunter2-password@");
    const child = spawnPkipc(["server", "--listen", "127.0.0.1:0", "--services-file", "unused.json"], {
      PKIPC_STORE: withPassword,
    });
    const log = watchLines(child.stderr);
    const url = (await log.waitFor(/listening on (http:\/\/\S+)/))[1]!;
    // The user does not exist on this Redis: it refuses the login, and the instance says the store is unreachable.
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(503);
    const body = await health.text();
    expect(body).toContain(`(${redis.url})`);
    expect(body).not.toContain("hunter2");
    expect(log.lines.join("\n")).toContain(`store=${redis.url}`);
    expect(log.lines.join("\n")).not.toContain("hunter2");
  });
});

describe("Redis hangs", () => {
  test("a Redis that stops answering (SIGSTOP): requests get 503 by the command deadline instead of hanging, then it goes on (SIGCONT)", async () => {
    const redis = await testRedis();
    const [a] = await instances(1, redis);
    expect((await backend(a!).createSession()).id).toBeString();
    process.kill(redis.pid(), "SIGSTOP");
    try {
      const refused = await fetch(`${a!.url}/v1/sessions`, {
        method: "POST",
        headers: { authorization: `Bearer ${apiKeyOf(a!.url)}` },
        signal: AbortSignal.timeout(20_000),
      });
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("STORE_UNAVAILABLE");
    } finally {
      process.kill(redis.pid(), "SIGCONT");
    }
    const end = Date.now() + 20_000;
    while (!(await fetch(`${a!.url}/healthz`).then((r) => r.ok))) {
      if (Date.now() > end) throw new Error("the instance did not go on once Redis answered again");
      await Bun.sleep(100);
    }
    expect((await backend(a!).createSession()).id).toBeString();
  });

  test("under load, Redis stops answering for longer than the command deadline: every request in flight gets 201 or 503, none hangs, and every session answered 201 is there afterwards", async () => {
    const redis = await testRedis();
    // Limits raised: the load is one address and one API key, and every request should reach the store.
    const raised = "100000,100000";
    const [a] = await instances(1, redis, [
      "--session-rate",
      raised,
      "--api-key-session-rate",
      raised,
      "--api-key-call-rate",
      raised,
      "--max-sessions",
      "1000000",
      "--max-sessions-per-api-key",
      "1000000",
    ]);
    const headers = { authorization: `Bearer ${apiKeyOf(a!.url)}` };
    const statuses = new Map<number, number>();
    const issued: string[] = [];
    let hung = 0;
    const end = Date.now() + 5_000;
    // 48 clients creating sessions back to back (the instance sends those of one turn to Redis together),
    // while Redis is stopped from 0.5 s to 3.5 s (the deadline is 2 s).
    const load = Promise.all(
      Array.from({ length: 48 }, async () => {
        while (Date.now() < end) {
          const response = await fetch(`${a!.url}/v1/sessions`, {
            method: "POST",
            headers,
            signal: AbortSignal.timeout(10_000),
          }).catch(() => undefined);
          if (!response) {
            hung++;
            continue;
          }
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          const body = (await response.json()) as { id?: string };
          if (response.status === 201) issued.push(body.id!);
        }
      }),
    );
    await Bun.sleep(500);
    process.kill(redis.pid(), "SIGSTOP");
    try {
      await Bun.sleep(3_000);
    } finally {
      process.kill(redis.pid(), "SIGCONT");
    }
    await load;
    console.log(
      `requests while Redis stopped for 3 s: ${JSON.stringify(Object.fromEntries(statuses))}, ${hung} without an answer`,
    );
    expect(hung).toBe(0);
    expect([...statuses.keys()].sort()).toEqual([201, 503]);
    expect(a!.child.exitCode).toBeNull();
    // Nothing answered 201 was lost: each reads back (a sample of 200, spread over the run).
    const api = backend(a!);
    const step = Math.max(1, Math.floor(issued.length / 200));
    for (let i = 0; i < issued.length; i += step) expect((await api.status(issued[i]!)).id).toBe(issued[i]!);
  });
});
