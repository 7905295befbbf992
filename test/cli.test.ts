// The binary's command line: help with defaults, and one clear sentence for every bad option.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { findFreePort } from "../src/lib/ports.ts";
import { writeKeyFile } from "../src/service/key-file.ts";
import { runPkipc, serverProcess, spawnPkipc, TEST_USER, tempFolder, watchLines } from "./helpers.ts";

describe("help", () => {
  test("pkipc --help lists the roles", async () => {
    const run = await runPkipc(["--help"]);
    expect(run.code).toBe(0);
    for (const role of ["server", "service", "client", "demo"]) expect(run.stdout).toContain(role);
  });

  test.each([
    ["server", ["--listen", "--range", "--bind-failure", "--ttl", "--code", "default 127.0.0.1:7870", "PKIPC_RANGE"]],
    ["service", ["--server", "--skip", "PKIPC_SERVER"]],
    ["client", ["--server", "--transport", "--format", "--json", "--timeout", "default tcp"]],
  ])("pkipc %s --help lists every option with its default", async (role, words) => {
    const run = await runPkipc([role, "--help"]);
    expect(run.code).toBe(0);
    // help wraps to 80 columns: "default" and its value may be on two lines
    for (const word of words) expect(run.stdout.replace(/\s+/g, " ")).toContain(word);
  });
});

describe("admin actions", () => {
  test("pkipc admin --help lists every action, and each action's help names its whole path", async () => {
    const run = await runPkipc(["admin", "--help"]);
    expect(run.code).toBe(0);
    for (const action of [
      "token",
      "services",
      "revoke",
      "api-key",
      "api-keys",
      "revoke-api-key",
      "acknowledge-data-loss",
    ])
      expect(run.stdout).toMatch(new RegExp(`^  ${action}\\b`, "m"));
    expect((await runPkipc(["admin", "revoke", "--help"])).stdout).toContain("USAGE pkipc admin revoke");
  });

  test("an option before the action is not taken for one: the action is asked for", async () => {
    const run = await runPkipc(["admin", "--server", "http://127.0.0.1:9", "token"]);
    expect(run.code).toBe(64);
    expect(run.stderr.trim()).toMatch(/^pkipc admin: say which action, right after "pkipc admin"; one of token, /);
  });
});

describe("bad options are refused at start with one sentence", () => {
  test.each([
    [["server", "--range", "6000-6100"], /port 6000, which browsers refuse/],
    [["server", "--range", "29170-29175"], /needs at least 12 ports/],
    [["server", "--range", "29170-29185", "--code", "2x2"], /only [\d.]+ bits/],
    [["server", "--listen", "nowhere"], /--listen must be HOST:PORT/],
    [["server", "--bind-failure", "guess"], /--bind-failure must be one of enumerate, server-match/],
    [["server", "--ttl", "forever"], /--ttl must be a duration/],
    [["server", "--colour"], /unknown option --colour/],
    [["client", "--transport", "carrier-pigeon"], /--transport must be one of tcp, http, ws/],
    [["client", "--server", "ftp://x"], /--server must be an http or https URL/],
    [["service", "--skip", "1,2,x"], /--skip must be a whole number/],
    [["service", "--host", "0.0.0.0"], /must be a loopback address/],
    [["launch"], /unknown command "launch"/],
    // a weak code names the flag that forces it
    [["server", "--code", "1x2"], /only [\d.]+ bits .*--force-weak-code/],
    // a relative key file is refused as a relative --key-dir is: a service started at login runs elsewhere
    [["service", "--key-file", "key.json", "--users", TEST_USER], /--key-file must be an absolute path/],
    [
      ["service", "install", "--key-file", "key.json", "--users", TEST_USER, "--dry-run"],
      /--key-file must be an absolute path/,
    ],
    [["service", "status", "--key-file", "key.json"], /--key-file must be an absolute path/],
    [["admin", "tokn"], /unknown action "tokn"; one of token, services, revoke, api-key/],
  ])("%p", async (args, message) => {
    const run = await runPkipc(args as string[]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(message as RegExp);
    expect(run.stderr.trim().split("\n").length).toBe(1);
    expect(run.stderr).not.toContain("    at ");
  });

  test("environment variables are read, and a bad one is named", async () => {
    const run = await runPkipc(["server"], 10_000, { PKIPC_RANGE: "1-100" });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/port range 1-100 contains port 1/);
  });

  test("a weak code space runs when forced", async () => {
    const server = await serverProcess(["--range", "29170-29185", "--code", "2x2", "--force-weak-code"]);
    await server.log.waitFor(/bits=10\.8/);
  });

  test("a service whose server is not there says so once and waits for it; a stop meanwhile ends it at once", async () => {
    // An enrolled service (a well-formed key file), so the first thing to fail is reaching the server.
    const keyFile = join(tempFolder(), "key.json");
    writeKeyFile(keyFile, { serviceId: "abcdefghijkl", key: "A".repeat(43) }, "http://127.0.0.1:9");
    const child = spawnPkipc([
      "service",
      "--server",
      "http://127.0.0.1:9",
      "--key-file",
      keyFile,
      "--users",
      TEST_USER,
    ]);
    const log = watchLines(child.stderr);
    await log.waitFor(
      /WARN the server does not answer yet \(GET http:\/\/127\.0\.0\.1:9\/v1\/config failed: .*\): waiting for it/,
    );
    await Bun.sleep(1500); // a second try or two: said once
    expect(log.lines.filter((l) => l.includes("does not answer yet"))).toHaveLength(1);
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0); // before: it exited 1 at once, and an installed unit gave up after 5 starts
    await log.waitFor(/stopped on SIGTERM before the server answered/);
  });

  test("a service started before its server binds its range once the server answers", async () => {
    const port = findFreePort();
    const keyFile = join(tempFolder(), "key.json");
    writeKeyFile(keyFile, { serviceId: "abcdefghijkl", key: "A".repeat(43) }, `http://127.0.0.1:${port}`);
    const child = spawnPkipc(["service", "--key-file", keyFile, "--users", TEST_USER]); // its server from the key file
    const log = watchLines(child.stderr);
    await log.waitFor(/the server does not answer yet/);
    await serverProcess(["--listen", `127.0.0.1:${port}`]);
    await log.waitFor(/holding \d+ of \d+ ports/, 20_000);
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
  });
});

describe("what the new-user walkthrough found", () => {
  test("an argument a command does not take, an option given twice and an unknown demo option are refused, not ignored", async () => {
    for (const [args, said] of [
      [["client", "extra"], 'unexpected argument "extra"'],
      [["service", "status", "extra"], 'unexpected argument "extra"'],
      [["client", "--instruction", "a", "--instruction", "b"], "--instruction was given 2 times; give it once"],
      [["demo", "--bogus"], "unknown option --bogus"],
    ] as const) {
      const run = await runPkipc([...args], 20_000);
      expect(run.code, args.join(" ")).toBe(64);
      expect(run.stderr).toContain(said);
    }
  });

  test("usage lines put an action's options after it, where they are taken", async () => {
    const admin = await runPkipc(["admin", "--help"], 20_000);
    expect(admin.stdout.replace(/\s+/g, " ")).toContain(
      "USAGE pkipc admin token|services|revoke|api-key|api-keys|revoke-api-key|acknowledge-data-loss [OPTIONS]",
    );
    const service = await runPkipc(["service", "--help"], 20_000);
    expect(service.stdout.replace(/\s+/g, " ")).toContain(
      "USAGE pkipc service [OPTIONS], or pkipc service install|uninstall|status|origins [OPTIONS]",
    );
    // What the usage says works; the other order is refused, saying where the action goes.
    const closed = `http://127.0.0.1:${findFreePort()}`;
    const after = await runPkipc(["admin", "token", "--server", closed, "--admin-secret", "x".repeat(32)], 20_000);
    expect(after.code).toBe(1); // the call was made (nothing listens there), not a usage error
    const before = await runPkipc(["admin", "--server", closed, "token"], 20_000);
    expect(before.code).toBe(64);
    expect(before.stderr).toContain('say which action, right after "pkipc admin"');
  });

  test("pkipc client --json prints one JSON object even when no session could be made", async () => {
    const closed = findFreePort(); // nothing listens there
    const run = await runPkipc(
      ["client", "--server", `http://127.0.0.1:${closed}`, "--json", "--timeout", "2s"],
      20_000,
    );
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout)).toMatchObject({ linked: false, code: "NETWORK" });
  });
});
