// An operator upgrades the server before the services and clients out there: a later server may add fields to
// its answers. This version's service, `pkipc client` and backend library skip what they do not know (and still
// check what they do), so the server need not gate its additions for them as it does for 0.3 (src/protocol/versions.ts):
// except inside an instruction the service is to run, where a field this version does not know refuses the answer.
// A later version cannot run here: a proxy in front of this version's real server stands in for it, adding
// fields to every JSON answer it passes on, at the top and inside the objects a later version might extend.
import { expect, test } from "bun:test";
import { backendClient } from "../../src/library/backend.ts";
import { enrollmentToken, runPkipc, serverProcess, serviceProcess } from "../helpers.ts";
import { laterServer } from "./later-server.ts";

test("a service enrolled, a `pkipc client` and a backend library link and run an instruction through a server that adds fields", async () => {
  const server = await serverProcess();
  const later = laterServer(server.url);
  // Enrolled, configured and reporting through the later server: every answer it reads carries fields it does not know.
  await serviceProcess(server.url, ["--server", later.url, "--enroll", await enrollmentToken(server.url)]);
  const run = await runPkipc(
    ["client", "--server", later.url, "--json", "--timeout", "15s", "--instruction", "log:message=from a later server"],
    30_000,
    { PKIPC_API_KEY: server.apiKey },
  );
  expect(run.stderr).not.toContain("answered something unexpected");
  const result = JSON.parse(run.stdout);
  expect(result).toMatchObject({ linked: true, state: "linked", instructions: [{ name: "log", state: "done" }] });
  expect(result.process.pid).toBe(run.pid);
  // What was added was left out, not passed on.
  expect(run.stdout).not.toContain("addedLater");
  expect(run.stdout).not.toContain("alsoLater");

  // The backend library reads the same session's status through it.
  const backend = backendClient(later.url, { apiKey: server.apiKey, timeoutMs: 10_000 });
  const status = await backend.status(result.sessionId);
  expect(status.state).toBe("linked");
  expect(status.process?.pid).toBe(run.pid);
  expect(Object.keys(status)).not.toContain("addedLater");
  // An error answer extended too still names its code.
  const missing = await backend.status("AAAAAAAAAAAAAAAAAAAAAA").catch((error: unknown) => error);
  expect(missing).toMatchObject({ status: 404, code: "NOT_FOUND" });

  // The proxy did extend what each of them read: enrollment, configuration, session, polls, the report's answer.
  for (const path of ["/v1/enroll", "/v1/config", "/v1/sessions", "/v1/sessions/ID", "/v1/reports"])
    expect({ path, extended: (later.extended.get(path) ?? 0) > 0 }).toEqual({ path, extended: true });
}, 60_000);

test("a field a later server adds inside an instruction to run refuses it: the service does not run what it does not wholly understand", async () => {
  const server = await serverProcess();
  const later = laterServer(server.url, true);
  const service = await serviceProcess(server.url, [
    "--server",
    later.url,
    "--enroll",
    await enrollmentToken(server.url),
  ]);
  const run = await runPkipc(
    ["client", "--server", later.url, "--json", "--timeout", "4s", "--instruction", "log:message=constrained later"],
    30_000,
    { PKIPC_API_KEY: server.apiKey },
  );
  const result = JSON.parse(run.stdout);
  // The server linked; the service refused the answer that carried the instruction, so it never ran.
  expect(result.state).toBe("linked");
  expect(result.instructions).toEqual([expect.objectContaining({ name: "log", state: "delivered" })]);
  await service.log.waitFor(/\/v1\/reports answered something unexpected/, 5000);
  expect(service.log.lines.join("\n")).not.toContain("constrained later");
  expect(later.extended.get("/v1/reports") ?? 0).toBeGreaterThan(0);
}, 60_000);
