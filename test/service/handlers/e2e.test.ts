// Program handlers end to end: a real server, a real service, knocks from this process; each bad program is refused visibly and the service keeps working.
import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { originFolder } from "../../../src/service/handlers/key.ts";
import { transports } from "../../../plugins/transport/index.ts";
import { knockTuples } from "../../../src/client/knock.ts";
import type { InstructionRequest, SessionStatus } from "../../../src/protocol/schemas.ts";
import { backendApi, tempFolder, testServer, testService } from "../../helpers.ts";
import { alive, handlerProgram } from "./programs.ts";

/** Queues `instructions`, knocks the session's code, and reads the session until every instruction is answered. */
async function linkWith(url: string, instructions: InstructionRequest[]): Promise<SessionStatus> {
  const api = backendApi(url); // the SaaS backend queues instructions and reads their answers with its API key
  const offer = await api.createSession();
  for (const instruction of instructions) await api.queueInstruction(offer.id, instruction);
  await knockTuples(transports.tcp, offer.tuples, { settleMs: 2, origin: new URL(url).origin });
  let status = await api.status(offer.id, { seconds: 10, since: 0 });
  const end = Date.now() + 45_000;
  while (
    status.state !== "expired" &&
    (status.state === "pending" || status.instructions.some((i) => i.state === "queued" || i.state === "delivered"))
  ) {
    if (Date.now() > end) throw new Error(`instructions still unanswered: ${JSON.stringify(status.instructions)}`);
    status = await api.status(offer.id, { seconds: 10, since: status.version });
  }
  return status;
}

describe("program handlers end to end", () => {
  test("a program that hangs, floods, fails or is missing is refused with a clear reason, and the service keeps working", async () => {
    const server = await testServer({ ttlMs: 60_000 });
    const folder = tempFolder();
    const gone = handlerProgram("echo", tempFolder());
    const programs = {
      context: handlerProgram("echo", folder),
      hang: handlerProgram("hang", folder),
      flood: handlerProgram("flood", folder),
      fail: handlerProgram("fail", folder),
      gone,
    };
    const service = await testService(server.url, { handlerSettings: { programs, timeoutMs: 1500 } });
    rmSync(gone); // configured and checked at start, removed since
    const pidFile = join(folder, "hang-pids");
    const status = await linkWith(server.url, [
      { name: "hang", args: { pidFile } },
      { name: "flood", args: {} },
      { name: "fail", args: {} },
      { name: "gone", args: {} },
      { name: "context", args: { key: "value" } },
    ]);
    expect(status.state).toBe("linked");
    const byName = Object.fromEntries(status.instructions.map((i) => [i.name, i]));
    expect(byName.hang).toMatchObject({
      state: "refused",
      result: `program ${programs.hang} was stopped: "hang" did not finish within 1500 ms; its process group was killed`,
    });
    expect(byName.flood).toMatchObject({
      state: "refused",
      result: `program ${programs.flood} wrote more than 65536 bytes to stdout; it was killed`,
    });
    expect(byName.fail).toMatchObject({
      state: "refused",
      result: `program ${programs.fail} exited with status 3: something broke: the disk is full`,
    });
    expect(byName.gone).toMatchObject({ state: "refused", result: `program ${gone} is missing` });
    expect(byName.context!.state).toBe("done");
    const seen = JSON.parse(byName.context!.result!) as { args: Record<string, string>; env: Record<string, string> };
    expect(seen.args).toEqual({ key: "value" });
    // the knocker is this test process; the link id is the service's, as its report answer named it
    expect(seen.env).toMatchObject({
      PKIPC_INSTRUCTION: "context",
      PKIPC_PID: String(process.pid),
      PKIPC_EXE: process.execPath,
      PKIPC_ORIGIN: new URL(server.url).origin,
    });
    expect(seen.env.PKIPC_LINK_ID).toBe(service.reports[0]!.answer!.linkId!);
    expect(seen.env.PKIPC_INSTRUCTION_ID).toBe(byName.context!.id);
    // the hung program and the child it started are gone
    for (const pid of (await Bun.file(pidFile).text()).trim().split("\n").map(Number))
      expect(await alive(pid)).toBe(false);

    // the service still links and still runs programs
    const again = await linkWith(server.url, [{ name: "context", args: { again: "yes" } }]);
    expect(again.instructions[0]).toMatchObject({ name: "context", state: "done" });
    expect(JSON.parse(again.instructions[0]!.result!).args).toEqual({ again: "yes" });
  });

  test("key and info built-ins, once allowed, store a key and answer the allowed settings", async () => {
    const server = await testServer();
    const keyDir = join(tempFolder(), "keys");
    await testService(server.url, {
      allowInstructions: ["key", "info"],
      handlerSettings: { keyDir, infoFields: ["os", "arch", "pkipcVersion"] },
    });
    const status = await linkWith(server.url, [
      { name: "key", args: { name: "acme-api", secret: "pk_live_0123456789" } },
      { name: "info", args: {} },
      { name: "log", args: { message: "not allowed here" } },
    ]);
    const [key, info, log] = status.instructions;
    expect(key).toMatchObject({ state: "done" });
    const stored = JSON.parse(key!.result!) as { path: string; sha256: string };
    // in the folder of the session's origin (the backend API key's), named relative to the key folder
    expect(stored.path).toBe(`${originFolder(new URL(server.url).origin)}/acme-api`);
    expect(await Bun.file(join(keyDir, stored.path)).text()).toBe("pk_live_0123456789");
    expect(stored.sha256).toBe(new Bun.CryptoHasher("sha256").update("pk_live_0123456789").digest("hex").slice(0, 16));
    expect(info).toMatchObject({ state: "done" });
    expect(Object.keys(JSON.parse(info!.result!))).toEqual(["os", "arch", "pkipcVersion"]);
    expect(log).toMatchObject({ state: "refused" });
  });
});
