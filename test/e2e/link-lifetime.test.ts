// Instructions for a link's whole life, with the real binary: one queued past the service's old 60 s watch is done; every instruction ends done, refused or expired with a reason.
import { describe, expect, test } from "bun:test";
import type { ClientResult } from "../../src/client/index.ts";
import type { SessionStatus } from "../../src/protocol/schemas.ts";
import { backendApi, runPkipc, serverProcess, serviceProcess } from "../helpers.ts";
import { ApiError } from "../../src/lib/errors.ts";

/** Links a session through the CLI client (no instruction), as a page would before the backend instructs it. */
async function link(url: string): Promise<ClientResult> {
  const run = await runPkipc(["client", "--server", url, "--json", "--timeout", "20s"], 30_000);
  const result = JSON.parse(run.stdout) as ClientResult;
  expect({ linked: result.linked, reason: result.reason }).toEqual({ linked: true, reason: undefined });
  return result;
}

/** Long-polls the status (as the backend does) until `done` holds or `ms` passes; the last status either way. */
async function waitFor(
  url: string,
  id: string,
  done: (s: SessionStatus) => boolean,
  ms: number,
): Promise<SessionStatus> {
  const api = backendApi(url);
  const end = Date.now() + ms;
  let status = await api.status(id);
  while (!done(status) && Date.now() < end) {
    status = await api.status(id, {
      seconds: Math.max(1, Math.min(10, Math.ceil((end - Date.now()) / 1000))),
      since: status.version,
    });
  }
  return status;
}

describe("a linked session's instructions", () => {
  test("an instruction queued 90 s after the link (past the service's old 60 s watch) is carried out", async () => {
    // the server's default link lifetime (5 min): the service watches as long as the server says
    const server = await serverProcess();
    await serviceProcess(server.url);
    const linked = await link(server.url);
    const linkedAt = Date.now();
    await Bun.sleep(90_000 - (Date.now() - linkedAt));
    const queued = await backendApi(server.url).queueInstruction(linked.sessionId, {
      name: "log",
      args: { note: "ninety seconds on" },
    });
    expect(queued.state).toBe("queued");
    const status = await waitFor(
      server.url,
      linked.sessionId,
      (s) => s.instructions[0]?.state !== "queued" && s.instructions[0]?.state !== "delivered",
      20_000,
    );
    expect(status.instructions).toEqual([expect.objectContaining({ id: queued.id, name: "log", state: "done" })]);
    expect(new Date(status.linkEndsAt!).getTime()).toBeGreaterThan(Date.now());
  }, 150_000);

  test("instructions no service answers read expired with why: at the session's expiry, at their own deadline, at the link's end; an ended link takes no more", async () => {
    const server = await serverProcess(["--ttl", "2s", "--link-ttl", "8s"]);
    const api = backendApi(server.url);

    // a session nobody links: its instruction expires with the code
    const lonely = await api.createSession();
    await api.queueInstruction(lonely.id, { name: "log" });
    const unlinked = await waitFor(server.url, lonely.id, (s) => s.instructions[0]?.state === "expired", 15_000);
    expect(unlinked.instructions[0]).toMatchObject({
      state: "expired",
      result: "the session expired before a service linked it",
    });

    // a linked session whose service then stops: one instruction with a deadline of its own, one without
    const service = await serviceProcess(server.url);
    const linked = await link(server.url);
    service.child.kill("SIGTERM");
    await service.child.exited;
    const early = await api.queueInstruction(linked.sessionId, { name: "log", ttlMs: 1000 });
    const late = await api.queueInstruction(linked.sessionId, { name: "log" });
    const first = await waitFor(
      server.url,
      linked.sessionId,
      (s) => s.instructions.some((i) => i.state === "expired"),
      6000,
    );
    expect(first.instructions).toEqual([
      {
        id: early.id,
        name: "log",
        state: "expired",
        result: "not delivered to a service before its own deadline (ttlMs)",
      },
      { id: late.id, name: "log", state: "queued" },
    ]);
    const ended = await waitFor(
      server.url,
      linked.sessionId,
      (s) => s.instructions.every((i) => i.state === "expired"),
      15_000,
    );
    expect(ended.state).toBe("linked");
    expect(ended.instructions[1]).toEqual({
      id: late.id,
      name: "log",
      state: "expired",
      result: "the link ended before the service asked for it",
    });
    expect(new Date(ended.linkEndsAt!).getTime()).toBeLessThanOrEqual(Date.now());
    const refused = await api.queueInstruction(linked.sessionId, { name: "log" }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ status: 410, code: "SESSION_ENDED" });
  });
});
