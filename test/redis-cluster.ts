// A real Redis Cluster for one test: three primaries and three replicas on free loopback ports in a temp folder,
// joined by redis-cli --cluster create; every process is killed by PID after the test, failed or not.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findFreePort } from "../src/lib/ports.ts";
import { tempFolder } from "./helpers.ts";
import { type RedisProcess, redisBinary, redisCommand, redisServer } from "./redis.ts";

export interface TestCluster {
  /** The --store URL: redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3 */
  url: string;
  nodes: RedisProcess[];
  /** The node that serves `slot` as primary now, asked of any live node. */
  primaryOf(slot: number): Promise<RedisProcess>;
  /** The slot of `key`. */
  slotOf(key: string): Promise<number>;
  /** Resolves once every running node sees all slots served (cluster_state:ok), or throws after `timeoutMs`. */
  healthy(timeoutMs: number): Promise<void>;
  command(port: number, ...args: string[]): Promise<unknown>;
  /** Kills every node and removes the folder (done after the test by itself unless it is `shared`). */
  stop(): Promise<void>;
}

/**
 * Starts six nodes (a node is failed after 1 s without an answer, so a replica takes over within about 2 s) and
 * makes them one cluster with a replica per primary; resolves once the cluster serves every slot. A `shared` cluster
 * outlives the test: its owner stops it (the contract suites share one per file, each test under a prefix of its own).
 */
export async function testCluster(shared = false): Promise<TestCluster> {
  const cli = redisBinary("redis-cli");
  // A node rewrites its cluster file as the cluster changes, and exits when it cannot: the folder lives as long as it.
  const dir = shared ? mkdtempSync(join(tmpdir(), "pkipc-cluster-")) : tempFolder();
  const ports = clusterPorts(6);
  const nodes = ports.map((port) => {
    return redisServer(
      port,
      dir,
      [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        `nodes-${port}.conf`,
        "--cluster-node-timeout",
        "1000",
        "--repl-diskless-sync-delay",
        "0",
      ],
      !shared,
    );
  });
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.kill()));
    if (shared) rmSync(dir, { recursive: true, force: true });
  };
  try {
    return await formCluster(nodes, cli, stop);
  } catch (error) {
    await stop(); // a shared one is not stopped after the test: a start that failed stops it here
    throw error;
  }
}

/**
 * Free ports for `count` cluster nodes. Each node also listens on its port + 10000 (the cluster bus): that one must
 * be free too, and no node's port may be another's bus port (seen once in CI: a node could not bind the port a
 * node started before it held as its bus).
 */
function clusterPorts(count: number): number[] {
  const taken = new Set<number>();
  const ports: number[] = [];
  for (let tries = 0; ports.length < count; tries++) {
    if (tries >= 500) throw new Error(`no ${count} free port pairs (P, P+10000) on 127.0.0.1 for a Redis Cluster`);
    const port = findFreePort("127.0.0.1", 22_768); // so its bus port stays below the ephemeral range too
    const bus = port + 10_000;
    if (bus > 65_535 || taken.has(port) || taken.has(bus) || !portFree(bus)) continue;
    taken.add(port).add(bus);
    ports.push(port);
  }
  return ports;
}

/** Whether 127.0.0.1:`port` can be bound now. */
function portFree(port: number): boolean {
  try {
    Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true);
    return true;
  } catch {
    return false;
  }
}

/** Starts the nodes, makes them one cluster and waits until it serves every slot with every replica in sync. */
async function formCluster(nodes: RedisProcess[], cli: string, stop: () => Promise<void>): Promise<TestCluster> {
  await Promise.all(nodes.map((n) => n.start()));
  const create = Bun.spawn(
    [
      cli,
      "--cluster",
      "create",
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      "--cluster-replicas",
      "1",
      "--cluster-yes",
    ],
    {
      stdout: "pipe",
      stderr: "pipe",
      stdin: "ignore",
    },
  );
  const created = await Promise.race([create.exited, Bun.sleep(30_000).then(() => "late" as const)]);
  if (created !== 0) {
    create.kill("SIGKILL");
    throw new Error(
      `redis-cli --cluster create failed (${created}): ${(await new Response(create.stdout).text()).slice(-500)}`,
    );
  }
  const command = (port: number, ...args: string[]) => redisCommand(port, args);
  const alive = async <T>(ask: (port: number) => Promise<T>): Promise<T> => {
    for (const node of nodes) {
      const answer = await ask(node.port).then(
        (value) => ({ value }),
        () => undefined,
      );
      if (answer) return answer.value;
    }
    throw new Error("no node of the cluster answered");
  };
  const cluster: TestCluster = {
    url: `redis+cluster://${nodes
      .slice(0, 3)
      .map((n) => `127.0.0.1:${n.port}`)
      .join(",")}`,
    nodes,
    command,
    stop,
    slotOf: (key) => alive(async (port) => Number(await command(port, "CLUSTER", "KEYSLOT", key))),
    async primaryOf(slot) {
      const ranges = (await alive((port) => command(port, "CLUSTER", "SLOTS"))) as Array<
        [number, number, [string, number, ...unknown[]]]
      >;
      const range = ranges.find(([from, to]) => from <= slot && slot <= to);
      const node = nodes.find((n) => n.port === Number(range?.[2][1]));
      if (!node) throw new Error(`no primary serves slot ${slot}`);
      return node;
    },
    async healthy(timeoutMs) {
      const end = Date.now() + timeoutMs;
      for (const node of nodes.filter((n) => n.running())) {
        while (!/cluster_state:ok/.test(String(await command(node.port, "CLUSTER", "INFO").catch(() => "")))) {
          if (Date.now() > end)
            throw new Error(`the cluster did not serve every slot within ${timeoutMs} ms (node ${node.port})`);
          await Bun.sleep(100);
        }
      }
    },
  };
  await cluster.healthy(20_000);
  // Every replica in sync before a test relies on it.
  const end = Date.now() + 20_000;
  for (const node of nodes) {
    for (;;) {
      const info = String(await command(node.port, "INFO", "replication"));
      if (/role:master/.test(info) || /master_link_status:up/.test(info)) break;
      if (Date.now() > end) throw new Error(`replica ${node.port} did not sync within 20 s`);
      await Bun.sleep(100);
    }
  }
  return cluster;
}
