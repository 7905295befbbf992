// The binary's handler options: programs from --handler, PKIPC_HANDLERS and a handlers file run end to end; key and info through the CLI; bad settings refused with one sentence.
import { describe, expect, test } from "bun:test";
import { chmodSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ClientResult } from "../../src/client/index.ts";
import { writeKeyFile } from "../../src/service/key-file.ts";
import { runPkipc, serverProcess, serviceProcess, tempFolder, TEST_USER } from "../helpers.ts";
import { handlerProgram } from "../service/handlers/programs.ts";

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

describe("pkipc service with handler programs", () => {
  test("programs named by --handler (twice), PKIPC_HANDLERS and --handlers-file each run, with none of the service's own environment", async () => {
    const folder = tempFolder();
    const echo = handlerProgram("echo", folder);
    const fail = handlerProgram("fail", folder);
    const file = join(folder, "handlers.json");
    writeFileSync(file, JSON.stringify({ handlers: { "from-file": echo } }));
    const server = await serverProcess();
    const service = await serviceProcess(
      server.url,
      ["--handler", `from-flag=${echo}`, `--handler=fails=${fail}`, "--handlers-file", file, "--handler-timeout", "5s"],
      {
        PKIPC_HANDLERS: `from-env=${echo}`,
        SERVICE_ONLY_SECRET: "must-not-reach-programs",
      },
    );
    await service.log.waitFor(/holding \d+ of \d+ ports .*instructions=from-flag,fails,from-file,log/);
    // --handler given on the command line wins over PKIPC_HANDLERS, as every flag does over its variable
    const refused = await client(server.url, "from-env:x=1");
    expect(refused.instructions[0]).toMatchObject({
      state: "refused",
      result: 'instruction "from-env" is not allowed by this service',
    });
    for (const name of ["from-flag", "from-file"]) {
      const run = await client(server.url, `${name}:who=${name}`);
      expect(run.linked).toBe(true);
      expect(run.instructions[0]).toMatchObject({ name, state: "done" });
      const seen = JSON.parse(run.instructions[0]!.result!) as {
        args: Record<string, string>;
        env: Record<string, string>;
      };
      expect(seen.args).toEqual({ who: name });
      expect(seen.env).toMatchObject({
        PKIPC_INSTRUCTION: name,
        PKIPC_PID: String(run.process!.pid),
        PKIPC_USER: run.process!.user,
        PKIPC_EXE: run.process!.exe,
        PKIPC_ORIGIN: new URL(server.url).origin, // the origin of the backend's API key
      });
      expect(seen.env).not.toHaveProperty("SERVICE_ONLY_SECRET");
      expect(seen.env).not.toHaveProperty("PKIPC_SERVER");
    }
    const failed = await client(server.url, "fails");
    expect(failed.instructions[0]).toMatchObject({
      state: "refused",
      result: `program ${fail} exited with status 3: something broke: the disk is full`,
    });
    await service.log.waitFor(/handler program wrote to stderr name=fails/);
  });

  test("PKIPC_HANDLERS alone configures programs for an installed service", async () => {
    const echo = handlerProgram("echo");
    const server = await serverProcess();
    await serviceProcess(server.url, [], { PKIPC_HANDLERS: `from-env=${echo}` });
    const run = await client(server.url, "from-env:x=1");
    expect({ linked: run.linked, reason: run.reason }).toEqual({ linked: true, reason: undefined });
    expect(run.instructions[0]).toMatchObject({ name: "from-env", state: "done" });
  });

  test("key and info through the binary: the key lands in the key folder and the secret is in no log", async () => {
    const keyDir = join(tempFolder(), "keys");
    const server = await serverProcess();
    const service = await serviceProcess(server.url, [
      "--allow-instructions",
      "key,info",
      "--key-dir",
      keyDir,
      "--info-fields",
      "os,arch,user",
    ]);
    const stored = await client(server.url, "key:name=acme-api,secret=sk_live_NotForLogs");
    expect(stored.instructions[0]).toMatchObject({ state: "done" });
    // in the folder of the session's origin (the test backend's API key names the server's own)
    const path = join(keyDir, `http_127.0.0.1_${new URL(server.url).port}`, "acme-api");
    expect(JSON.parse(stored.instructions[0]!.result!).path).toBe(
      `http_127.0.0.1_${new URL(server.url).port}/acme-api`,
    );
    expect(await Bun.file(path).text()).toBe("sk_live_NotForLogs");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const info = await client(server.url, "info");
    expect(Object.keys(JSON.parse(info.instructions[0]!.result!))).toEqual(["os", "arch", "user"]);
    await service.log.waitFor(/key stored name=acme-api/);
    service.child.kill("SIGTERM");
    await service.child.exited;
    expect(service.log.lines.join("\n")).not.toContain("NotForLogs");
  });
});

test("pkipc service --help lists the handler options with their defaults and variables", async () => {
  const run = await runPkipc(["service", "--help"]);
  expect(run.code).toBe(0);
  for (const word of [
    "--handler",
    "PKIPC_HANDLERS",
    "--handlers-file",
    "--handler-timeout",
    "default 10s",
    "--key-dir",
    "--info-fields",
    "default os,kernel,arch",
  ]) {
    expect(run.stdout.replace(/\s+/g, " ")).toContain(word); // the help wraps long lines
  }
});

describe("bad handler settings are refused at start with one sentence", () => {
  test.each([
    [
      ["--handler", "store-key=relative/tool"],
      /^pkipc service: handler "store-key": the program must be an absolute path, not "relative\/tool"/,
    ],
    [
      ["--handler", "store-key=/nonexistent/tool"],
      /handler "store-key": the program \/nonexistent\/tool does not exist/,
    ],
    [["--handler", "Store_Key=/bin/true"], /handler name "Store_Key" is not an instruction name/],
    [["--handler", "/bin/true"], /--handler must be NAME=\/absolute\/path\/to\/program/],
    [["--handler", "key=/bin/true"], /handler program "key" has the name of another handler/],
    [["--allow-instructions", "key"], /instruction "key" is allowed but no key folder is set \(--key-dir DIR\)/],
    [["--info-fields", "os,serial"], /--info-fields: unknown field "serial"/],
    [["--handler-timeout", "forever"], /--handler-timeout must be a duration/],
    [
      ["--handlers-file", "/nonexistent/handlers.json"],
      /the handlers file \/nonexistent\/handlers.json cannot be read/,
    ],
  ])("%p", async (args, message) => {
    const keyFile = join(tempFolder(), "key.json");
    writeKeyFile(keyFile, { serviceId: "abcdefghijkl", key: "A".repeat(43) }, "http://127.0.0.1:9");
    const run = await runPkipc(
      ["service", "--server", "http://127.0.0.1:9", "--key-file", keyFile, "--users", TEST_USER, ...(args as string[])],
      15_000,
    );
    expect(run.code).toBe(64);
    expect(run.stderr).toMatch(message as RegExp);
    expect(run.stderr.trim().split("\n").length).toBe(1);
  });

  test("a program others may change is refused", async () => {
    const open = join(tempFolder(), "open");
    writeFileSync(open, "#!/bin/sh\n");
    chmodSync(open, 0o777);
    const run = await runPkipc(["service", "--handler", `store-key=${open}`], 15_000);
    expect(run.code).toBe(64);
    expect(run.stderr.trim()).toBe(
      `pkipc service: handler "store-key": ${open} may be changed by other users (mode 777); run chmod go-w ${open}`,
    );
  });
});
