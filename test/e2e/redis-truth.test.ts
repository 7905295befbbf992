// Operators see the truth about a shared Redis, with the real binary and a real redis-server: a Redis that came back empty is an error on /healthz until acknowledged; an instance of another store format refuses to start.
import { describe, expect, test } from "bun:test";
import { VERSION } from "../../src/version.ts";
import { STORE_FORMAT } from "../../src/server/state/redis/epoch.ts";
import { runPkipc, serverProcess, spawnPkipc } from "../helpers.ts";
import { testRedis } from "../redis.ts";

type Health = { status: number; body: { ok: boolean; error?: string } };

async function health(url: string): Promise<Health> {
  const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: (await response.json()) as { ok: boolean; error?: string } };
}

/** /healthz until `want` holds (the watch looks every 5 s); the last answer either way. */
async function healthUntil(url: string, want: (h: Health) => boolean, ms: number) {
  const end = Date.now() + ms;
  const unanswered: Health = { status: 0, body: { ok: false } };
  let last = await health(url).catch(() => unanswered);
  while (!want(last) && Date.now() < end) {
    await Bun.sleep(500);
    last = await health(url).catch(() => unanswered);
  }
  return last;
}

describe("a shared Redis, as operators see it", () => {
  test("a Redis that comes back empty: an error in the log, /healthz 503 with why, until an operator acknowledges it", async () => {
    const redis = await testRedis();
    const server = await serverProcess(["--store", redis.url]);
    expect((await health(server.url)).status).toBe(200);

    await redis.stop(); // no persistence: everything pkipc kept there is gone
    await redis.start();
    const lost = await healthUntil(
      server.url,
      (h) => h.status === 503 && /lost its data/.test(h.body.error ?? ""),
      30_000,
    );
    expect(lost.status).toBe(503);
    expect(lost.body.error).toContain("the Redis store lost its data");
    expect(lost.body.error).toContain("pkipc admin acknowledge-data-loss");
    await server.log.waitFor(
      /ERROR.*the Redis store lost its data|the Redis store lost its data.*enrolled services, API keys/,
      10_000,
    );
    // it stays so: Redis answering again is not the same as Redis holding what it held
    await Bun.sleep(6_000);
    expect((await health(server.url)).status).toBe(503);

    const ack = await runPkipc(["admin", "acknowledge-data-loss", "--server", server.url], 20_000, {
      PKIPC_ADMIN_SECRET: server.adminSecret,
    });
    expect({ code: ack.code, out: ack.stdout.trim() }).toEqual({
      code: 0,
      out: "acknowledged: /healthz answers 200 again on every instance",
    });
    expect(await healthUntil(server.url, (h) => h.status === 200, 10_000)).toMatchObject({
      status: 200,
      body: { ok: true },
    });
  });

  test("an instance refuses a Redis that a pkipc of another store format uses, naming both versions", async () => {
    const redis = await testRedis();
    await redis.command("SET", "pkipc:format", JSON.stringify({ format: 1, version: "0.1.0" }));
    const child = spawnPkipc(["server", "--listen", "127.0.0.1:0", "--store", redis.url]);
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const [stderr, code] = await Promise.all([new Response(child.stderr).text(), child.exited]);
    clearTimeout(timer);
    expect(stderr).toContain(
      `holds the data of pkipc 0.1.0 (store format 1); this is pkipc ${VERSION} (store format ${STORE_FORMAT}), which cannot share it`,
    );
    expect(stderr).not.toContain("listening on");
    expect(code).toBe(64); // a configuration refused (EX_USAGE), as for a bad flag
    // the same format (this version, or another of the same format) shares it
    await redis.command("SET", "pkipc:format", JSON.stringify({ format: STORE_FORMAT, version: "0.3.1" }));
    const server = await serverProcess(["--store", redis.url]);
    expect((await health(server.url)).status).toBe(200);
  });
});
