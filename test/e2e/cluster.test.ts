// Two server instances (the compiled binary) on a real Redis Cluster (three primaries, three replicas): the primary of
// the sessions' slot is killed under load, then the primary of the registry's.
import { describe, expect, test } from "bun:test";
import { failoverDrill, replicaLagDrill } from "../failover.ts";
import { serverProcess } from "../helpers.ts";
import { testCluster } from "../redis-cluster.ts";

describe("a Redis Cluster (three primaries, three replicas)", () => {
  test("the primary holding the sessions is killed while 16 clients create and link sessions, then the one holding the registry: every request answered 2xx or 503, links resume within 10 s of the promotion, every acknowledged enrollment and API key survives", async () => {
    const cluster = await testCluster();
    // Each kind of state has a hash tag of its own (see keyspace in src/server/state/redis/connection.ts).
    const sessionsSlot = await cluster.slotOf("pkipc:{sessions}:live");
    const registrySlot = await cluster.slotOf("pkipc:{registry}:services");
    /** Kills the primary of `slot` by PID and waits until the cluster serves every slot again, from a promoted replica. */
    const lose = async (slot: number) => {
      const primary = await cluster.primaryOf(slot);
      await primary.kill();
      const promotedBy = Date.now() + 30_000;
      while ((await cluster.primaryOf(slot).catch(() => primary)) === primary) {
        if (Date.now() > promotedBy) throw new Error(`no replica took over slot ${slot} within 30 s`);
        await Bun.sleep(100);
      }
      await cluster.healthy(30_000);
      expect(primary.running()).toBe(false);
    };
    await failoverDrill(cluster.url, {
      failover: () => lose(sessionsSlot),
      async then() {
        if ((await cluster.primaryOf(registrySlot)).running()) await lose(registrySlot);
        await Bun.sleep(1_000);
      },
    });
  });

  test("the replica of the registry's primary stops acknowledging (SIGSTOP): API keys and enrollment tokens are answered 503 with the reason, never 201 unreplicated; 201 again once it is back", async () => {
    const cluster = await testCluster();
    const a = await serverProcess(["--store", cluster.url]);
    // The replica of the registry's primary: the node whose INFO names that primary's port.
    const primary = await cluster.primaryOf(await cluster.slotOf("pkipc:{registry}:services"));
    const replicas = [];
    for (const node of cluster.nodes) {
      if (
        new RegExp(`master_port:${primary.port}\\b`).test(
          String(await cluster.command(node.port, "INFO", "replication")),
        )
      )
        replicas.push(node);
    }
    expect(replicas).toHaveLength(1);
    // Several times: a WAIT sent to any other primary would find nothing to wait for and answer at once.
    await replicaLagDrill(a.url, a.adminSecret, replicas[0]!.pid(), 3);
  });
});
