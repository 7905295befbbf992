// A SaaS upgrades its pkipc server before the backend library it ships, or its users keep an older pkipc client:
// the released 0.3.0 code (its sources, kept as a fixture, run as they were) against this server's binary
// and service. 0.3.0 decodes a session status strictly (no property it does not know, DECLINED as the only reason),
// so the server answers a client that names 0.3 in the shape 0.3 reads.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { transports } from "../../plugins/transport/index.ts";
import { knockTuples } from "../../src/client/knock.ts";
import { apiClient } from "../../src/protocol/api-client.ts";
import { findFreeRange } from "../../src/lib/ports.ts";
import { BUN, onCleanup, ROOT, runPkipc, serverProcess, serviceProcess, watchLines } from "../helpers.ts";
import { FAKE_PROCESS, requestFrom } from "../security/tools.ts";

/**
 * The released 0.3.0 sources (`src` and `plugins`), as `git archive --format=tar 9d8573e src plugins | gzip -9n`
 * made them: a fixture, so a clone without that history (a shallow one) runs this test too.
 */
const RELEASED_0_3_0 = join(ROOT, "test", "fixtures", "pkipc-0.3.0-src.tar.gz");

let old = "";
beforeAll(() => {
  // The old tree in a folder of its own for the whole file, resolving its packages from this checkout's node_modules.
  old = mkdtempSync(join(tmpdir(), "pkipc-0.3.0-"));
  const untar = Bun.spawnSync(["tar", "-xzf", RELEASED_0_3_0, "-C", old], { stderr: "pipe" });
  if (untar.exitCode !== 0) throw new Error(`could not unpack ${RELEASED_0_3_0}: ${untar.stderr.toString()}`);
  symlinkSync(join(ROOT, "node_modules"), join(old, "node_modules"));
});
afterAll(() => {
  if (old) rmSync(old, { recursive: true, force: true });
});

/** pkipc 0.3.0's backend library (`pkipc/backend`), as a SaaS backend that has not upgraded it runs it. */
async function oldBackend(url: string, apiKey: string) {
  const library = (await import(
    join(old, "src", "library", "backend.ts")
  )) as typeof import("../../src/library/backend.ts");
  return library.backendClient(url, { apiKey, timeoutMs: 10_000 });
}

/** A pkipc 0.3.0 server, as an operator who upgrades services and clients first still runs it; killed after the test. */
async function oldServer() {
  const range = findFreeRange(64);
  const adminSecret = Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64url");
  const child = Bun.spawn(
    [BUN, join(old, "src", "cli.ts"), "server", "--listen", "127.0.0.1:0", "--range", `${range.start}-${range.end}`],
    {
      cwd: old,
      env: {
        ...process.env,
        NO_COLOR: "1",
        PKIPC_ADMIN_SECRET: adminSecret,
        PKIPC_SERVICES_FILE: join(old, "services.json"),
      },
      stdout: "ignore",
      stderr: "pipe",
    },
  );
  onCleanup(async () => {
    if (child.exitCode === null) child.kill("SIGKILL");
    await child.exited;
  });
  const url = (await watchLines(child.stderr).waitFor(/listening on (http:\/\/\S+)/))[1]!;
  const admin = async (path: string, body?: object) => {
    const response = await fetch(`${url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminSecret}`, ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(10_000),
    });
    expect(response.status).toBe(201);
    return (await response.json()) as { token?: string; key?: string };
  };
  return { url, admin };
}

describe("clients of pkipc 0.3.0 against this server", () => {
  test("the 0.3.0 backend library reads a pending session that carries a reason and detail 0.3 never knew, and this version's client reads both", async () => {
    const server = await serverProcess();
    const backend = await oldBackend(server.url, server.apiKey);
    const offer = await backend.createSession();
    // Another user's program sends an unsigned report of the code: the session now has SERVICE_NOT_ENROLLED.
    const hostile = await requestFrom("127.0.0.1", server.url, "POST", "/v1/reports", {
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        process: FAKE_PROCESS,
        claim: { strategy: "server-match", observed: offer.tuples.flat(), failed: [] },
        origin: new URL(server.url).origin,
      }),
    });
    expect(hostile.status).toBe(401);
    // The backend sees the reason once the session stayed pending for its grace (an unproven report's reason):
    // a long poll from the version the mark made wakes then.
    const current = await apiClient(server.url, { apiKey: server.apiKey }).status(offer.id, {
      seconds: 10,
      since: 1,
    });
    expect(current).toMatchObject({ state: "pending", reason: "SERVICE_NOT_ENROLLED" });
    expect(current.detail).toContain("does not know");

    // 0.3.0 refused the whole status before (a DecodeError naming the property); now it reads it as 0.3 would.
    const read = await backend.status(offer.id);
    expect(read.state).toBe("pending");
    expect(read).not.toHaveProperty("reason");
    expect(read).not.toHaveProperty("detail");
    const waited = await backend.waitForStatus(offer.id, (s) => s.state !== "pending", { timeoutMs: 1_500 });
    expect(waited.state).toBe("pending");
  });

  test("the 0.3.0 backend library links a session through this version's service and gets an instruction's result", async () => {
    const server = await serverProcess();
    await serviceProcess(server.url);
    const backend = await oldBackend(server.url, server.apiKey);
    const offer = await backend.createSession();
    await knockTuples(transports.tcp, offer.tuples, { settleMs: 2, origin: new URL(server.url).origin });
    const linked = await backend.waitForLink(offer.id, { timeoutMs: 10_000 });
    expect(linked).toMatchObject({ state: "linked", process: { pid: process.pid } });
    const queued = await backend.queueInstruction(offer.id, { name: "log", args: { text: "from a 0.3.0 backend" } });
    const done = await backend.waitForInstruction(offer.id, queued.id, { timeoutMs: 10_000 });
    expect(done).toMatchObject({ state: "done" });
  });

  test("pkipc client 0.3.0 links through this version's server and service", async () => {
    const server = await serverProcess();
    await serviceProcess(server.url);
    const child = Bun.spawn(
      [BUN, join(old, "src", "cli.ts"), "client", "--server", server.url, "--json", "--timeout", "10s"],
      { cwd: old, env: { ...process.env, PKIPC_API_KEY: server.apiKey }, stdout: "pipe", stderr: "pipe" },
    );
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const [out, err, code] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]).finally(() => clearTimeout(timer));
    expect({ code, err: code === 0 ? "" : err }).toEqual({ code: 0, err: "" });
    expect(JSON.parse(out)).toMatchObject({ linked: true, process: { pid: child.pid } });
  });
});

describe("this version against a pkipc 0.3.0 server", () => {
  test("this version's service and pkipc client link through a 0.3.0 server, and this version's backend library reads the status", async () => {
    const server = await oldServer();
    const { token } = await server.admin("/v1/admin/tokens");
    const { key } = await server.admin("/v1/admin/api-keys", { name: "tests", origin: new URL(server.url).origin });
    await serviceProcess(server.url, ["--enroll", token!]);
    const run = await runPkipc(["client", "--server", server.url, "--json", "--timeout", "10s"], 30_000, {
      PKIPC_API_KEY: key!,
    });
    expect({ code: run.code, err: run.code === 0 ? "" : run.stderr }).toEqual({ code: 0, err: "" });
    const result = JSON.parse(run.stdout) as { linked: boolean; sessionId: string };
    expect(result).toMatchObject({ linked: true, process: { pid: run.pid } });
    const status = await apiClient(server.url, { apiKey: key! }).status(result.sessionId);
    expect(status).toMatchObject({ state: "linked", process: { pid: run.pid } });
  });
});
