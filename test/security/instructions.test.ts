// Instructions: the service carries out only what its own configuration allows, by name; the rest is refused visibly.
import { describe, expect, test } from "bun:test";
import { transports } from "../../plugins/transport/index.ts";
import { knockTuples } from "../../src/client/knock.ts";
import { startService } from "../../src/service/index.ts";
import { silentLogger } from "../../src/lib/log.ts";
import { backendApi, enrollWith, TEST_USER, testServer, testService } from "../helpers.ts";

async function linkWith(url: string, names: string[]) {
  const api = backendApi(url);
  const offer = await api.createSession();
  for (const name of names) await api.queueInstruction(offer.id, { name, args: { cmd: "rm -rf /", message: "hi" } });
  await knockTuples(transports.tcp, offer.tuples, { settleMs: 2, origin: new URL(url).origin });
  let status = await api.status(offer.id, { seconds: 10, since: 0 });
  while (status.instructions.some((i) => i.state === "queued" || i.state === "delivered")) {
    status = await api.status(offer.id, { seconds: 10, since: status.version });
  }
  return status;
}

describe("instruction allow-list", () => {
  test("an instruction not on the allow-list is refused and the refusal shows in the session status", async () => {
    const server = await testServer();
    await testService(server.url); // allows "log" only, the default
    const status = await linkWith(server.url, ["exec", "shell", "log", "run-command"]);
    expect(status.state).toBe("linked");
    const byName = Object.fromEntries(status.instructions.map((i) => [i.name, i]));
    for (const name of ["exec", "shell", "run-command"]) {
      expect(byName[name]).toMatchObject({
        state: "refused",
        result: `instruction "${name}" is not allowed by this service`,
      });
    }
    expect(byName.log!.state).toBe("done");
  });

  test("with an empty allow-list even the built-in log is refused", async () => {
    const server = await testServer();
    await testService(server.url, { allowInstructions: [] });
    const status = await linkWith(server.url, ["log"]);
    expect(status.instructions[0]).toMatchObject({ name: "log", state: "refused" });
  });

  test("allowing a name the service has no handler for is refused at start", async () => {
    const server = await testServer();
    await expect(
      startService(
        {
          server: server.url,
          credentials: await enrollWith(server.url),
          users: [Number(TEST_USER)],
          allowInstructions: ["log", "exec"],
        },
        silentLogger,
      ),
    ).rejects.toMatchObject({ code: "CONFIG" });
  });
});
