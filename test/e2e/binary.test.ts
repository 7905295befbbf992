// End to end with the compiled binary: server, service and clients as separate processes on loopback.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { transports } from "../../plugins/transport/index.ts";
import { knockTuples } from "../../src/client/knock.ts";
import type { ClientResult } from "../../src/client/index.ts";
import { backendApi, BUN, ROOT, runPkipc, serverProcess, serviceProcess, spawnPkipc, onCleanup } from "../helpers.ts";

async function client(
  url: string,
  ...args: string[]
): Promise<{ code: number | null; result: ClientResult; pid: number; stderr: string }> {
  const run = await runPkipc(["client", "--server", url, "--json", ...args]);
  let result: ClientResult;
  try {
    result = JSON.parse(run.stdout) as ClientResult;
  } catch {
    throw new Error(`client printed no JSON (exit ${run.code}): ${run.stdout}${run.stderr}`);
  }
  return { code: run.code, result, pid: run.pid, stderr: run.stderr };
}

function knocker(mode: "all" | "random", range: { start: number; end: number }, count: number, origin: string) {
  const child = Bun.spawn(
    [
      BUN,
      join(ROOT, "test/fixtures/knocker.ts"),
      mode,
      `${range.start}`,
      `${range.end}`,
      `${count}`,
      new URL(origin).origin,
    ],
    {
      stdout: "pipe",
      stderr: "inherit",
    },
  );
  onCleanup(() => child.kill("SIGKILL"));
  return child;
}

describe("each transport links", () => {
  for (const transport of Object.keys(transports)) {
    test(transport, async () => {
      const server = await serverProcess();
      await serviceProcess(server.url);
      const run = await client(server.url, "--transport", transport);
      expect(run.result.linked).toBe(true);
      expect(run.code).toBe(0);
      expect(run.result.process?.pid).toBe(run.pid);
      expect(run.result.process?.name).toBe("pkipc");
      expect(run.result.transport).toBe(transport);
    });
  }

  test("the text line says what each transport can tell: tcp counts knocks landed, ws (which cannot tell) says so", async () => {
    const server = await serverProcess();
    await serviceProcess(server.url);
    const tcp = await runPkipc(["client", "--server", server.url, "--transport", "tcp"]);
    expect(tcp.stdout).toMatch(/via tcp, 12\/12 knocks landed$/m);
    await Bun.sleep(1100); // past the service's retry window for the ports the last code used
    const ws = await runPkipc(["client", "--server", server.url, "--transport", "ws"]);
    expect(ws.code).toBe(0);
    expect(ws.stdout).toMatch(/via ws, 12 knocks sent \(ws cannot tell whether each landed\)$/m);
  });
});

describe("session formats", () => {
  for (const format of ["json", "xml"] as const) {
    test(`${format} session links`, async () => {
      const server = await serverProcess();
      await serviceProcess(server.url);
      const run = await client(server.url, "--format", format);
      expect(run.result).toMatchObject({ linked: true, format });
    });
  }

  test("the server hands out XML when asked by query or Accept", async () => {
    const server = await serverProcess();
    const authorization = `Bearer ${server.apiKey}`;
    const byQuery = await fetch(`${server.url}/v1/sessions?format=xml`, { method: "POST", headers: { authorization } });
    expect(byQuery.status).toBe(201);
    expect(byQuery.headers.get("content-type")).toContain("application/xml");
    expect(await byQuery.text()).toMatch(/<session>[\s\S]*<tuple>[\s\S]*<port>\d+<\/port>/);
    const byAccept = await fetch(`${server.url}/v1/sessions`, {
      method: "POST",
      headers: { accept: "application/xml", authorization },
    });
    expect(byAccept.status).toBe(201);
    expect(await byAccept.text()).toContain("<session>");
  });
});

describe("bind failures", () => {
  for (const strategy of ["server-match", "enumerate"]) {
    test(`a service with three skipped ports still links (${strategy})`, async () => {
      const server = await serverProcess(["--bind-failure", strategy, "--idle", "150ms"]);
      const skipped = [server.range.start + 5, server.range.start + 20, server.range.start + 41];
      const service = await serviceProcess(server.url, ["--skip", skipped.join(",")]);
      await service.log.waitFor(/could not bind 3 ports/);
      // Codes are random: keep going until at least two runs drew a skipped port, so the fill-in is exercised.
      let touched = 0;
      for (let run = 0; run < 40 && touched < 2; run++) {
        const result = (await client(server.url)).result;
        expect(result.linked).toBe(true);
        if (result.tuples.flat().some((p) => skipped.includes(p))) {
          touched++;
          expect(result.knocks.refused).toBeGreaterThan(0);
        }
      }
      expect(touched).toBe(2);
    });
  }
});

describe("many processes at once", () => {
  test("20 clients at once each link to their own session", async () => {
    const server = await serverProcess();
    await serviceProcess(server.url);
    const runs = await Promise.all(Array.from({ length: 20 }, () => client(server.url)));
    for (const run of runs) {
      expect(run.result.linked).toBe(true);
      expect(run.result.process?.pid).toBe(run.pid);
    }
    expect(new Set(runs.map((r) => r.result.sessionId)).size).toBe(20);
  });

  test("a process knocking random ports of the range does not stop others linking", async () => {
    const server = await serverProcess();
    await serviceProcess(server.url);
    const noise = knocker("random", server.range, 2000, server.url);
    const runs = await Promise.all(Array.from({ length: 8 }, () => client(server.url)));
    for (const run of runs) expect(run.result.linked).toBe(true);
    expect(noise.exitCode === null || noise.exitCode === 0).toBe(true);
  });

  test("a process that knocks every port of the range links nothing", async () => {
    const server = await serverProcess();
    const service = await serviceProcess(server.url);
    const api = backendApi(server.url);
    const offers = await Promise.all(Array.from({ length: 5 }, () => api.createSession()));
    const flood = knocker("all", server.range, 0, server.url);
    const { pid } = JSON.parse(await new Response(flood.stdout).text()) as { pid: number };
    await service.log.waitFor(new RegExp(`pid=${pid}.*not linked|not linked.*pid=${pid}`));
    await Bun.sleep(400); // the last burst is reported after the idle gap
    for (const offer of offers) expect((await api.status(offer.id)).state).toBe("pending");
    expect(service.log.lines.some((l) => l.includes("linked") && !l.includes("not linked"))).toBe(false);
  });
});

describe("codes are short-lived and single-use", () => {
  test("an expired code does not link", async () => {
    const server = await serverProcess(["--ttl", "1s"]);
    const service = await serviceProcess(server.url);
    const api = backendApi(server.url);
    const offer = await api.createSession();
    await Bun.sleep(1200);
    await knockTuples(transports.tcp, offer.tuples, { settleMs: 2, origin: new URL(server.url).origin });
    await service.log.waitFor(/not linked \(NO_MATCH\)/);
    expect((await api.status(offer.id)).state).toBe("expired");
  });

  test("a second report of the same code does not link again", async () => {
    const server = await serverProcess();
    const service = await serviceProcess(server.url);
    const api = backendApi(server.url);
    const offer = await api.createSession();
    await knockTuples(transports.tcp, offer.tuples, { settleMs: 2, origin: new URL(server.url).origin });
    const first = await api.status(offer.id, { seconds: 5, since: 0 });
    expect(first.state).toBe("linked");
    expect(first.process?.pid).toBe(process.pid);
    // The same knocks again, after the duplicate window: the service reports them, the server refuses.
    await Bun.sleep(1100);
    await knockTuples(transports.tcp, offer.tuples, { settleMs: 2, origin: new URL(server.url).origin });
    await service.log.waitFor(/not linked \(NO_MATCH\)/);
    const second = await api.status(offer.id);
    expect(second.linkedAt).toBe(first.linkedAt!);
    expect(second.version).toBe(first.version);
  });
});

describe("instructions", () => {
  test("an instruction queued by the session holder is delivered, handled and acknowledged", async () => {
    const server = await serverProcess();
    const service = await serviceProcess(server.url);
    const run = await client(server.url, "--instruction", "log:message=hello,who=test");
    expect(run.result.linked).toBe(true);
    expect(run.result.instructions).toEqual([expect.objectContaining({ name: "log", state: "done" })]);
    await service.log.waitFor(/instruction name=log.*hello/);
  });

  test("an instruction the service has no handler for is refused, and the refusal shows", async () => {
    const server = await serverProcess();
    await serviceProcess(server.url);
    const run = await client(server.url, "--instruction", "format-disk");
    expect(run.result.linked).toBe(true);
    expect(run.result.instructions).toEqual([expect.objectContaining({ name: "format-disk", state: "refused" })]);
  });

  test("an instruction queued after the link reaches the service through the link", async () => {
    const server = await serverProcess();
    const service = await serviceProcess(server.url);
    const api = backendApi(server.url);
    const offer = await api.createSession();
    await knockTuples(transports.tcp, offer.tuples, { settleMs: 2, origin: new URL(server.url).origin });
    let status = await api.status(offer.id, { seconds: 5, since: 0 });
    expect(status.state).toBe("linked");
    await api.queueInstruction(offer.id, { name: "log", args: { message: "later" } });
    const end = Date.now() + 10_000;
    while (status.instructions[0]?.state !== "done" && Date.now() < end)
      status = await api.status(offer.id, { seconds: 2, since: status.version });
    expect(status.instructions[0]).toMatchObject({ name: "log", state: "done" });
    await service.log.waitFor(/instruction name=log.*later/);
  });
});

describe("the client without a service", () => {
  test("fails with one sentence and a non-zero exit", async () => {
    const server = await serverProcess(["--ttl", "2s"]);
    const run = await runPkipc(["client", "--server", server.url, "--timeout", "1s"]);
    expect(run.code).not.toBe(0);
    expect(run.stdout.trim()).toMatch(/^not linked: NO_SERVICE: every knock was refused .*pkipc service/);
  });
});

test("pkipc demo delivers end to end and exits 0", async () => {
  const run = await runPkipc(["demo"], 60_000);
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/linked\s+in [\d.]+ ms: the service found pid \d+ \(pkipc/);
  expect(run.stdout).toContain('delivered instruction "log" -> done');
});

test("the service stops cleanly on SIGTERM and releases its ports", async () => {
  const server = await serverProcess();
  const service = await serviceProcess(server.url);
  service.child.kill("SIGTERM");
  expect(await service.child.exited).toBe(0);
  const again = await serviceProcess(server.url);
  await again.log.waitFor(/holding 64 of 64 ports/);
  const keep = spawnPkipc(["--version"]);
  expect(await keep.exited).toBe(0);
});
