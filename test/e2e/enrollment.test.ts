// Enrollment remembered: the key file names its server, a later start needs no --server, a key of another server is refused, and no enrollment overwrites a key unasked.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  enrollmentToken,
  runPkipc,
  serverProcess,
  spawnPkipc,
  tempFolder,
  TEST_ALLOWED_PROCESSES,
  TEST_USER,
  watchLines,
} from "../helpers.ts";

const base = ["--allow-processes", TEST_ALLOWED_PROCESSES.join(","), "--users", TEST_USER];

/** `pkipc service` with these options until it holds its ports; stopped with SIGTERM. */
async function startedService(args: string[]) {
  const child = spawnPkipc(["service", ...base, ...args]);
  const log = watchLines(child.stderr);
  const holding = await log.waitFor(/holding \d+ of \d+ ports .*server=(\S+)/, 20_000);
  child.kill("SIGTERM");
  expect(await child.exited).toBe(0);
  return holding[1]!;
}

describe("enrollment", () => {
  test("the key file records its server; a start without --server goes there; a key of another server is refused naming both", async () => {
    const [a, b] = await Promise.all([serverProcess(), serverProcess()]);
    const keyFile = join(tempFolder(), "key.json");
    expect(
      await startedService(["--server", a.url, "--key-file", keyFile, "--enroll", await enrollmentToken(a.url)]),
    ).toBe(`${a.url}/`);
    expect(JSON.parse(readFileSync(keyFile, "utf8")).server).toBe(`${a.url}/`);
    // no --server (and none in the environment): the enrolled one, not 127.0.0.1:7870
    expect(await startedService(["--key-file", keyFile])).toBe(`${a.url}/`);
    const other = await runPkipc(["service", ...base, "--server", b.url, "--key-file", keyFile], 20_000);
    expect(other.code).toBe(64);
    expect(other.stderr.trim()).toBe(
      `pkipc service: the key in ${keyFile} was enrolled with ${a.url}/, not ${b.url}/ (--server): use that server, or enroll with this one (--enroll TOKEN --force, or another --key-file)`,
    );
  });

  test("enrolling over an existing key is refused without --force, before the token is spent; --force replaces it", async () => {
    const server = await serverProcess();
    const keyFile = join(tempFolder(), "key.json");
    await startedService([
      "--server",
      server.url,
      "--key-file",
      keyFile,
      "--enroll",
      await enrollmentToken(server.url),
    ]);
    const before = readFileSync(keyFile, "utf8");
    const token = await enrollmentToken(server.url);
    const again = await runPkipc(
      ["service", ...base, "--server", server.url, "--key-file", keyFile, "--enroll", token],
      20_000,
    );
    expect(again.code).toBe(64);
    expect(again.stderr).toContain(
      `${keyFile} already holds this service's key; enrolling again would replace it: add --force`,
    );
    expect(readFileSync(keyFile, "utf8")).toBe(before);
    // the same token still works: the refusal spent nothing
    await startedService(["--server", server.url, "--key-file", keyFile, "--enroll", token, "--force"]);
    const after = JSON.parse(readFileSync(keyFile, "utf8"));
    expect(after.serviceId).not.toBe(JSON.parse(before).serviceId);
  });

  test("a key file that cannot be written is refused before the token is spent (its folder missing under /tmp)", async () => {
    const server = await serverProcess();
    const token = await enrollmentToken(server.url);
    // /tmp is writable by everyone: a folder the service would make there could be taken first, so it makes none
    const missing = join("/tmp", `pkipc-no-such-folder-${process.pid}-${Date.now()}`, "key.json");
    const refused = await runPkipc(
      ["service", ...base, "--server", server.url, "--key-file", missing, "--enroll", token],
      20_000,
    );
    expect(refused.code).toBe(64);
    expect(refused.stderr).toContain(`the key file ${missing} would not be written`);
    // the same token still works: the refusal spent nothing
    const keyFile = join(tempFolder(), "key.json");
    await startedService(["--server", server.url, "--key-file", keyFile, "--enroll", token]);
    expect(JSON.parse(readFileSync(keyFile, "utf8")).server).toBe(`${server.url}/`);
  });
});
