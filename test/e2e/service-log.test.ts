// What an operator reads: every log line timed, start and stop said, every instruction run logged and audited, never a secret.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ClientResult } from "../../src/client/index.ts";
import { runPkipc, serverProcess, serviceProcess, tempFolder } from "../helpers.ts";

async function client(url: string, instruction: string): Promise<ClientResult> {
  const run = await runPkipc(
    ["client", "--server", url, "--json", "--timeout", "30s", "--instruction", instruction],
    45_000,
  );
  try {
    return JSON.parse(run.stdout) as ClientResult;
  } catch {
    throw new Error(`client printed no JSON (exit ${run.code}): ${run.stdout}${run.stderr}`);
  }
}

const TIMED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;

describe("the service's log and audit file", () => {
  test("info and key runs are logged with origin, outcome and duration, audited as JSON lines, and the stop is said", async () => {
    const state = tempFolder();
    const keyDir = join(tempFolder(), "keys");
    const server = await serverProcess();
    const service = await serviceProcess(server.url, ["--allow-instructions", "key,info", "--key-dir", keyDir], {
      PKIPC_STATE_DIR: state,
    });
    await service.log.waitFor(/started as PID \d+/);
    expect((await client(server.url, "info")).instructions[0]).toMatchObject({ state: "done" });
    expect((await client(server.url, "key:name=acme,secret=sk_live_NotForLogs")).instructions[0]).toMatchObject({
      state: "done",
    });
    expect((await client(server.url, "nope")).instructions[0]).toMatchObject({ state: "refused" });
    const origin = new URL(server.url).origin;
    const info = await service.log.waitFor(/instruction info done origin=(\S+) pid=\d+ process=\S+ ms=\d+/);
    expect(info[1]).toBe(origin);
    await service.log.waitFor(/instruction key done origin=\S+ pid=\d+ process=\S+ ms=\d+/);
    await service.log.waitFor(/WARN instruction nope refused/);

    const audit = join(state, "audit.jsonl");
    const entries = readFileSync(audit, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.map((e) => [e.instruction, e.ok, e.origin])).toEqual([
      ["info", true, origin],
      ["key", true, origin],
      ["nope", false, origin],
    ]);
    for (const entry of entries)
      expect(entry).toMatchObject({
        time: expect.any(String),
        ms: expect.any(Number),
        pid: expect.any(Number),
        process: expect.any(String),
        uid: expect.any(Number),
      });
    expect(statSync(audit).mode & 0o777).toBe(0o600);
    expect(readFileSync(audit, "utf8")).not.toContain("NotForLogs");

    service.child.kill("SIGTERM");
    expect(await service.child.exited).toBe(0);
    server.child.kill("SIGTERM");
    await server.child.exited;
    await service.log.waitFor(/\[service\] stopped on SIGTERM/);
    await server.log.waitFor(/\[server\] stopped on SIGTERM/);
    // the state file is the running service's: gone once it stopped
    expect(existsSync(join(state, "service.json"))).toBe(false);
    const lines = [...service.log.lines, ...server.log.lines];
    expect(lines.filter((line) => !TIMED.test(line))).toEqual([]);
    expect(lines.join("\n")).not.toContain("NotForLogs");
  });
});
