// Ports held by others at start: the start line says, as the server will judge it, whether links can succeed; freed ports are bound later.
import { describe, expect, test } from "bun:test";
import type { TCPSocketListener } from "bun";
import type { ClientResult } from "../../src/client/index.ts";
import { portOutlook } from "../../src/service/port-outlook.ts";
import { onCleanup, runPkipc, serverProcess, serviceProcess } from "../helpers.ts";

async function client(url: string, timeout: string): Promise<ClientResult> {
  const run = await runPkipc(["client", "--server", url, "--json", "--timeout", timeout], 60_000);
  try {
    return JSON.parse(run.stdout) as ClientResult;
  } catch {
    throw new Error(`client printed no JSON (exit ${run.code}): ${run.stdout}${run.stderr}`);
  }
}

/** Another program holding `count` ports of the range (bound first, as a program started before the service). */
function squat(start: number, count: number): TCPSocketListener<undefined>[] {
  const held: TCPSocketListener<undefined>[] = [];
  for (let port = start; port < start + count; port++)
    held.push(Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }));
  onCleanup(() => held.forEach((l) => l.stop(true)));
  return held;
}

describe("ports taken by another program", () => {
  test("20 of 64 taken: the start says no link can succeed (server-match, --max-failed 16), none does; once freed they are bound and links succeed", async () => {
    const server = await serverProcess();
    const squatters = squat(server.range.start, 20);
    const service = await serviceProcess(server.url);
    await service.log.waitFor(/holding 44 of 64 ports/);
    const warning = await service.log.waitFor(/WARN could not bind 20 ports: (.*)/);
    expect(warning[1]).toMatch(
      /^no link can succeed until they are free \(server-match claims all 20 failed ports and the server accepts at most 16 \(--max-failed\)/,
    );
    expect(service.log.lines.join("\n")).not.toContain("will be matched");
    // the server agrees: whatever is knocked, no link
    const refused = await client(server.url, "5s");
    expect(refused.linked).toBe(false);

    for (const squatter of squatters) squatter.stop(true);
    await service.log.waitFor(/bound 20 ports freed since start: holding 64 of 64/, 60_000);
    await service.log.waitFor(/every port is held: links can succeed/);
    const linked = await client(server.url, "30s");
    expect(linked.linked).toBe(true);
  });

  test("a few taken: the share said is what the server's limits allow", () => {
    const config = {
      range: { start: 29170, end: 29233 },
      tuples: 3,
      portsPerTuple: 4,
      ttlMs: 30_000,
      settleMs: 300,
      idleMs: 1500,
      maxCompletions: 2048,
      maxMissing: 3,
      maxFailed: 16,
    };
    expect(portOutlook({ ...config, bindFailure: "server-match" }, 0).share).toBe(1);
    // 4 failed of 64, a code of 12: every code holds at most 3 of them... unless it holds all 4 (over --max-missing)
    const four = portOutlook({ ...config, bindFailure: "server-match" }, 4);
    expect(four.share).toBeGreaterThan(0.99);
    expect(four.share).toBeLessThan(1);
    // 17 failed: server-match claims them all, one more than --max-failed
    expect(portOutlook({ ...config, bindFailure: "server-match" }, 17).share).toBe(0);
    // enumerate claims failed ports only for a code that misses a knock: codes clear of all 17 still link
    const enumerate = portOutlook({ ...config, bindFailure: "enumerate" }, 17);
    expect(enumerate.share).toBeGreaterThan(0);
    expect(enumerate.share).toBeLessThan(0.05);
    expect(enumerate.sentence).toContain("--max-failed");
  });
});
