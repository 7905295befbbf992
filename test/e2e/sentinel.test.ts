// Two server instances (the compiled binary) on a real Sentinel deployment: the primary is killed under load, a sentinel restarts.
import { describe, expect, test } from "bun:test";
import { failoverDrill, replicaLagDrill } from "../failover.ts";
import { serverProcess } from "../helpers.ts";
import { testSentinels } from "../redis-sentinel.ts";

describe("a Sentinel deployment (a primary, a replica, three sentinels)", () => {
  test("the primary is killed while 16 clients create and link sessions, then a sentinel restarts: every request answered 2xx or 503, links resume within 10 s of the promotion, every acknowledged enrollment and API key survives", async () => {
    const deployment = await testSentinels();
    await failoverDrill(deployment.url, {
      async failover() {
        const oldPrimary = deployment.primary.port;
        await deployment.primary.kill();
        // The sentinels notice (down after 1 s) and promote the replica.
        const promotedBy = Date.now() + 30_000;
        while ((await deployment.masterPort()) === oldPrimary) {
          if (Date.now() > promotedBy) throw new Error("the sentinels promoted no replica within 30 s");
          await Bun.sleep(100);
        }
        expect(await deployment.masterPort()).toBe(deployment.replica.port);
      },
      async then() {
        // A sentinel restarts (from the file it rewrote) while the load goes on.
        await deployment.sentinels[0]!.kill();
        await Bun.sleep(500);
        await deployment.sentinels[0]!.start();
        await Bun.sleep(1_500);
      },
    });
  });

  // Through the sentinels and straight to the primary (redis://): a primary with replicas waits for one either way.
  for (const via of ["redis+sentinel://", "redis://"] as const) {
    test(`a replica stops acknowledging (SIGSTOP), store ${via}: an API key and an enrollment token are answered 503 with the reason, never 201 unreplicated; 201 again once it is back`, async () => {
      const deployment = await testSentinels();
      const a = await serverProcess([
        "--store",
        via === "redis://" ? `redis://127.0.0.1:${deployment.primary.port}` : deployment.url,
      ]);
      await replicaLagDrill(a.url, a.adminSecret, deployment.replica.pid());
    });
  }
});
