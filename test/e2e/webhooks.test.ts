// Signed webhooks end to end: the binary as server, service and client; a receiver on 127.0.0.1 that checks every delivery with the `standardwebhooks` library (not ours).
import { describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import type { ClientResult } from "../../src/client/index.ts";
import { apiClient } from "../../src/protocol/api-client.ts";
import { findFreePort, findFreeRange } from "../../src/lib/ports.ts";
import {
  eventually,
  onCleanup,
  ROOT,
  runPkipc,
  serverProcess,
  serviceProcess,
  tempFolder,
  watchLines,
} from "../helpers.ts";
import { testRedis } from "../redis.ts";

interface Delivery {
  headers: Record<string, string>;
  body: string;
}

/**
 * An HTTP receiver on 127.0.0.1 that keeps every delivery as it came (raw body, headers). `answer` picks
 * the reply to the n-th request (1-based); "hang" never answers.
 */
function receiver(answer: (n: number) => number | "hang" = () => 204) {
  const got: Delivery[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 60,
    async fetch(request) {
      got.push({ headers: request.headers.toJSON(), body: await request.text() });
      const reply = answer(got.length);
      if (reply === "hang") return new Promise<Response>(() => {});
      return new Response(reply === 204 ? null : "not now", { status: reply });
    },
  });
  onCleanup(() => server.stop(true));
  return { url: `http://127.0.0.1:${server.port}/pkipc-events`, got };
}

/** An API key with a webhook, made as an operator makes one: `pkipc admin api-key NAME --webhook URL`. */
async function keyWithWebhook(server: { url: string; adminSecret: string }, webhook: string) {
  const run = await runPkipc(
    [
      "admin",
      "api-key",
      "hooked-saas",
      "--server",
      server.url,
      "--origin",
      new URL(server.url).origin,
      "--webhook",
      webhook,
    ],
    15_000,
    {
      PKIPC_ADMIN_SECRET: server.adminSecret,
    },
  );
  expect(run.code).toBe(0);
  const [key, , secret] = run.stdout.trim().split("\n");
  expect(key).toStartWith("pkak_");
  expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
  return { key: key!, secret: secret! };
}

async function client(url: string, apiKey: string, instruction: string): Promise<ClientResult> {
  const run = await runPkipc(
    ["client", "--server", url, "--json", "--timeout", "30s", "--instruction", instruction],
    45_000,
    { PKIPC_API_KEY: apiKey },
  );
  try {
    return JSON.parse(run.stdout) as ClientResult;
  } catch {
    throw new Error(`client printed no JSON (exit ${run.code}): ${run.stdout}${run.stderr}`);
  }
}

/** A secret of the right shape that the server never made. */
const otherSecret = () => `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64")}`;

/** What standardwebhooks makes of a delivery: the payload, or it throws when the signature does not hold. */
const verify = (secret: string, d: Delivery) =>
  new Webhook(secret).verify(d.body, d.headers) as { type: string; timestamp: string; data: any };

describe("signed webhooks", () => {
  for (const store of ["file", "redis"] as const) {
    test(`a backend's webhook gets the link and the instruction's end, each verified by standardwebhooks (${store} store)`, async () => {
      const redis = store === "redis" ? await testRedis() : undefined;
      const server = await serverProcess(redis ? ["--store", redis.url] : []);
      const hook = receiver();
      const { key, secret } = await keyWithWebhook(server, hook.url);
      await serviceProcess(server.url);

      const run = await client(server.url, key, "log:note=hello");
      expect(run.linked).toBe(true);
      expect(run.instructions[0]).toMatchObject({ name: "log", state: "done" });
      await eventually(() => hook.got.length >= 2, "the link and the instruction events to arrive", 15_000);

      const events = hook.got.map((d) => verify(secret, d));
      const linked = events.find((e) => e.type === "session.linked");
      const done = events.find((e) => e.type === "instruction.done");
      expect(linked?.data).toMatchObject({
        id: run.sessionId,
        state: "linked",
        origin: new URL(server.url).origin,
        process: { pid: run.process!.pid },
      });
      expect(done?.data).toEqual({
        sessionId: run.sessionId,
        instruction: { id: run.instructions[0]!.id, name: "log", state: "done", result: run.instructions[0]!.result! },
      });
      const ids = hook.got.map((d) => d.headers["webhook-id"]);
      expect(new Set(ids).size).toBe(ids.length); // one id per event
      expect(hook.got.every((d) => d.headers["content-type"] === "application/json")).toBe(true);

      // The signature is what verify checks: another key's secret, a changed body, an old timestamp all fail.
      const first = hook.got[0]!;
      expect(() => verify(otherSecret(), first)).toThrow();
      expect(() => verify(secret, { ...first, body: first.body.replace('"state":"', '"state":"x') })).toThrow();
      expect(() =>
        verify(secret, {
          ...first,
          headers: { ...first.headers, "webhook-timestamp": String(Number(first.headers["webhook-timestamp"]) - 3600) },
        }),
      ).toThrow();

      // The operator's listing names the webhook, never its secret; the services file keeps it (mode 0600).
      const list = await runPkipc(["admin", "api-keys", "--server", server.url], 15_000, {
        PKIPC_ADMIN_SECRET: server.adminSecret,
      });
      expect(list.stdout).toContain(`webhook ${hook.url}`);
      expect(list.stdout).not.toContain("whsec_");
      if (store === "redis") {
        const id = /^(ak_\S+)\s+hooked-saas/m.exec(list.stdout)![1]!;
        const hash = (await redis!.command("GET", `pkipc:api-key-id:${id}`)) as string;
        expect(await redis!.command("HGET", `pkipc:api-key:${hash}`, "webhookSecret")).toBe(secret);
      }
    });
  }

  test("an instruction that expires unanswered makes one instruction.expired event, though expiry is read from the clock", async () => {
    const server = await serverProcess(["--ttl", "3s"]);
    const hook = receiver();
    const { key, secret } = await keyWithWebhook(server, hook.url);
    const backend = apiClient(server.url, { apiKey: key });
    // No service: the instruction is never delivered, and reads expired once its own deadline passes.
    const offer = await backend.createSession();
    const queued = await backend.queueInstruction(offer.id, { name: "log", args: { note: "never" }, ttlMs: 1000 });
    await eventually(() => hook.got.length >= 1, "the instruction.expired event", 15_000);
    const event = verify(secret, hook.got[0]!);
    expect(event.type).toBe("instruction.expired");
    expect(event.data).toMatchObject({
      sessionId: offer.id,
      instruction: { id: queued.id, name: "log", state: "expired" },
    });
    expect(event.data.instruction.result).toContain("deadline");
    const status = await backend.status(offer.id);
    expect(status.instructions[0]).toMatchObject({ id: queued.id, state: "expired" });
    await Bun.sleep(3000); // the session's own end (3 s) passes too: nothing more to tell
    expect(hook.got.map((d) => verify(secret, d).type)).toEqual(["instruction.expired"]);
  });

  test("a delivery that fails is retried with the same webhook-id and body, signed again", async () => {
    const server = await serverProcess(["--webhook-retries", "1s,1s"]);
    const hook = receiver((n) => (n === 1 ? 503 : 204));
    const { key, secret } = await keyWithWebhook(server, hook.url);
    await serviceProcess(server.url);
    const run = await client(server.url, key, "log");
    expect(run.linked).toBe(true);
    await eventually(() => hook.got.length >= 3, "the failed event's retry and the other event", 20_000);
    const [failed, ...rest] = hook.got;
    const retried = rest.find((d) => d.headers["webhook-id"] === failed!.headers["webhook-id"]);
    expect(retried).toBeDefined();
    expect(retried!.body).toBe(failed!.body);
    expect(verify(secret, retried!).type).toBe(verify(secret, failed!).type);
    await server.log.waitFor(/webhook attempt failed; retrying .*answered 503/);
  });

  test("a receiver that never answers holds neither the link nor the instruction; the attempt ends at its deadline", async () => {
    const server = await serverProcess(["--webhook-retries", "none", "--webhook-timeout", "1s"]);
    const hook = receiver(() => "hang");
    const { key } = await keyWithWebhook(server, hook.url);
    await serviceProcess(server.url);
    const run = await client(server.url, key, "log");
    expect(run.linked).toBe(true);
    expect(run.instructions[0]).toMatchObject({ state: "done" });
    await server.log.waitFor(/webhook given up .*no answer within 1000 ms/, 15_000);
  });

  test("webhook URLs that are not http(s), or hold a password, are refused with one sentence", async () => {
    const server = await serverProcess();
    const post = (webhook: string) =>
      fetch(`${server.url}/v1/admin/api-keys`, {
        method: "POST",
        headers: { authorization: `Bearer ${server.adminSecret}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "bad", origin: new URL(server.url).origin, webhook }),
        signal: AbortSignal.timeout(10_000),
      });
    for (const webhook of ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1:6379/_FLUSHALL"]) {
      const response = await post(webhook);
      expect(response.status).toBe(400);
    }
    const withPassword = await post("http://user:pass@127.0.0.1:9/hook");
    expect(withPassword.status).toBe(400);
    expect(((await withPassword.json()) as { error: { message: string } }).error.message).toBe(
      "the webhook URL must not hold a user name or password",
    );
    const cli = await runPkipc(
      [
        "admin",
        "api-key",
        "bad",
        "--server",
        server.url,
        "--origin",
        "https://saas.example",
        "--webhook",
        "ftp://127.0.0.1/x",
      ],
      15_000,
      {
        PKIPC_ADMIN_SECRET: server.adminSecret,
      },
    );
    expect(cli.code).toBe(64);
    expect(cli.stderr.trim()).toBe("pkipc admin api-key: --webhook must be an http or https URL");
    // Nothing was made by the refused requests.
    const list = await runPkipc(["admin", "api-keys", "--server", server.url], 15_000, {
      PKIPC_ADMIN_SECRET: server.adminSecret,
    });
    expect(list.stdout).not.toContain("bad");
  });
});

test("two instances on one Redis: the instance that linked and took the answer delivers the events, once; the other sends none", async () => {
  const redis = await testRedis();
  const range = findFreeRange(64);
  const args = ["--store", redis.url, "--range", `${range.start}-${range.end}`];
  const a = await serverProcess(args, { PKIPC_LOG_LEVEL: "debug" });
  const b = await serverProcess(args, { PKIPC_LOG_LEVEL: "debug" });
  const hook = receiver();
  const { key, secret } = await keyWithWebhook(a, hook.url); // made through A, kept in Redis: B finds it
  await serviceProcess(b.url); // reports and answers go to B
  const run = await client(a.url, key, "log"); // the session is made through A
  expect(run.linked).toBe(true);
  expect(run.instructions[0]).toMatchObject({ state: "done" });
  await eventually(() => hook.got.length >= 2, "the link and the instruction events", 15_000);
  await b.log.waitFor(/webhook delivered .*id=msg_\S+_linked/);
  await b.log.waitFor(/webhook delivered .*id=msg_\S+_done/);
  await Bun.sleep(500); // room for a duplicate from either instance, which must not come
  expect(hook.got.map((d) => verify(secret, d).type).sort()).toEqual(["instruction.done", "session.linked"]);
  expect(a.log.lines.filter((l) => l.includes("webhook delivered"))).toEqual([]);
});

test("bad webhook settings stop the server at start with one sentence", async () => {
  for (const [args, message] of [
    [
      ["--webhook-retries", "5x"],
      'pkipc server: --webhook-retries must list waits such as 5s,5m,30m,2h (or be none), not "5x"',
    ],
    [["--webhook-retries", "25h"], "pkipc server: --webhook-retries: each wait must be between 100ms and 24h, not 25h"],
    [
      ["--webhook-retries", Array(17).fill("1s").join(",")],
      "pkipc server: --webhook-retries may list at most 16 retries, not 17",
    ],
    [["--webhook-queue", "0"], "pkipc server: --webhook-queue must be between 1 and 1000000, not 0"],
  ] as const) {
    const run = await runPkipc(["server", "--listen", "127.0.0.1:0", ...args], 15_000);
    expect(run.code).toBe(64);
    expect(run.stderr.trim()).toBe(message);
  }
});

test("the services file keeps the webhook and its secret, readable by its owner only", async () => {
  const file = join(tempFolder(), "services.json");
  const server = await serverProcess([], { PKIPC_SERVICES_FILE: file });
  const { secret } = await keyWithWebhook(server, receiver().url);
  expect(statSync(file).mode & 0o777).toBe(0o600);
  const stored = JSON.parse(readFileSync(file, "utf8")) as {
    apiKeys: Array<{ name: string; webhook?: string; webhookSecret?: string }>;
  };
  expect(stored.apiKeys.find((k) => k.name === "hooked-saas")).toMatchObject({
    webhook: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/pkipc-events$/),
    webhookSecret: secret,
  });
});

test("the Node receiver of docs/integrating.md verifies every event with standardwebhooks, handles each once and refuses a forged one", async () => {
  const node = Bun.spawnSync(["sh", "-c", "command -v node"]).stdout.toString().trim();
  if (!node)
    throw new Error(
      "node is not installed: apt-get install nodejs (the receiver docs/integrating.md shows runs under Node)",
    );
  const file = join(ROOT, "examples", "webhook-receiver", "receiver.mjs");
  // docs/integrating.md shows this very file.
  expect(readFileSync(join(ROOT, "docs", "integrating.md"), "utf8")).toContain(readFileSync(file, "utf8").trim());
  // The key needs the receiver's URL and the receiver the key's secret: the port is picked first.
  const port = findFreePort();
  const url = `http://127.0.0.1:${port}/pkipc-events`;
  const server = await serverProcess();
  const { key, secret } = await keyWithWebhook(server, url);
  const child = Bun.spawn([node, file], {
    env: { ...process.env, PKIPC_WEBHOOK_SECRET: secret, PORT: String(port) },
    stdout: "pipe",
    stderr: "pipe",
  });
  onCleanup(async () => {
    child.kill();
    await child.exited;
  });
  const out = watchLines(child.stdout);
  await out.waitFor(/^listening on 127\.0\.0\.1:\d+$/);

  await serviceProcess(server.url);
  const run = await client(server.url, key, "log");
  expect(run.linked).toBe(true);
  await out.waitFor(new RegExp(`^linked ${run.sessionId} by \\S+ pid ${run.process!.pid}$`), 15_000);
  await out.waitFor(new RegExp(`^instruction\\.done ${run.sessionId} log: logged by service pid \\d+$`), 15_000);

  // A delivery signed with another secret is refused (401); a replay of a handled id is answered, not handled again.
  const payload = JSON.stringify({
    type: "instruction.done",
    timestamp: new Date().toISOString(),
    data: { sessionId: "s1", instruction: { id: "i1", name: "log", state: "done", result: "ok" } },
  });
  const post = (signer: string) => {
    const now = new Date();
    const headers = {
      "webhook-id": "msg_probe",
      "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
      "content-type": "application/json",
    };
    const signature = new Webhook(signer).sign(headers["webhook-id"], now, payload);
    return fetch(url, {
      method: "POST",
      headers: { ...headers, "webhook-signature": signature },
      body: payload,
      signal: AbortSignal.timeout(10_000),
    });
  };
  expect((await post(otherSecret())).status).toBe(401);
  expect((await post(secret)).status).toBe(204);
  expect((await post(secret)).status).toBe(204);
  await out.waitFor(/^instruction\.done s1 log: ok$/);
  expect(out.lines.filter((l) => l.startsWith("instruction.done s1 ")).length).toBe(1);
});
