// Program handlers up close: the environment a program sees, the process group killed at the deadline, floods, failures, the bound on concurrent runs, and the checks at start.
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { silentLogger } from "../../../src/lib/log.ts";
import { createInstructionRunner } from "../../../src/service/handlers/index.ts";
import type { HandlerContext } from "../../../src/service/handlers/types.ts";
import {
  checkProgram,
  mergePrograms,
  parseHandlerPairs,
  readHandlersFile,
} from "../../../src/service/handlers/program-config.ts";
import { programHandler, programSlots } from "../../../src/service/handlers/program.ts";
import { eventually, tempFolder } from "../../helpers.ts";
import { alive, handlerProgram } from "./programs.ts";

const knocker = {
  pid: 4242,
  ppid: 1,
  uid: 1000,
  user: "ana",
  exe: "/usr/lib/chromium/chromium",
  name: "chromium",
  browser: { name: "chromium", version: "156.0.1", pid: 4200, exe: "/usr/lib/chromium/chromium" },
};

const context = (over: Partial<HandlerContext> = {}): HandlerContext => ({
  log: silentLogger,
  process: knocker,
  linkId: "link-1",
  origin: "https://saas.example",
  signal: new AbortController().signal,
  ...over,
});

describe("program handler", () => {
  test("gets its args as JSON on stdin and only PATH, HOME, LANG and the link's context in its environment", async () => {
    const home = tempFolder();
    const handler = programHandler({
      name: "echo-args",
      path: handlerProgram("echo"),
      env: { PATH: "/usr/bin:/bin", HOME: home, LANG: "de_DE.UTF-8" },
      slots: programSlots(),
    });
    const answer = await handler.handle(
      { id: "i-7", name: "echo-args", args: { name: "acme", secret: 's3 cret\n"quoted"' } },
      context({ sessionId: "sess-1" }),
    );
    expect(answer.ok).toBe(true);
    const seen = JSON.parse(answer.result) as { args: unknown; env: Record<string, string>; cwd: string };
    expect(seen.args).toEqual({ name: "acme", secret: 's3 cret\n"quoted"' });
    expect(seen.cwd).toBe(home);
    // the sh wrapper and bun may add a few of their own (PWD, SHLVL, _): none of the service's variables leak
    const { PWD, SHLVL, _, ...env } = seen.env;
    expect(env).toEqual({
      PATH: "/usr/bin:/bin",
      HOME: home,
      LANG: "de_DE.UTF-8",
      PKIPC_INSTRUCTION: "echo-args",
      PKIPC_INSTRUCTION_ID: "i-7",
      PKIPC_SESSION_ID: "sess-1",
      PKIPC_LINK_ID: "link-1",
      PKIPC_PID: "4242",
      PKIPC_EXE: "/usr/lib/chromium/chromium",
      PKIPC_USER: "ana",
      PKIPC_BROWSER_NAME: "chromium",
      PKIPC_BROWSER_VERSION: "156.0.1",
      PKIPC_ORIGIN: "https://saas.example",
    });
  });

  test("facts the service does not know (session id, origin, browser) are left out, not set empty", async () => {
    const handler = programHandler({ name: "echo-args", path: handlerProgram("echo"), slots: programSlots() });
    const { browser, ...plain } = knocker;
    const answer = await handler.handle(
      { id: "i", name: "echo-args", args: {} },
      context({ process: plain, origin: undefined }),
    );
    const env = (JSON.parse(answer.result) as { env: Record<string, string> }).env;
    for (const name of ["PKIPC_SESSION_ID", "PKIPC_ORIGIN", "PKIPC_BROWSER_NAME", "PKIPC_BROWSER_VERSION"])
      expect(env).not.toHaveProperty(name);
    expect(env.PKIPC_LINK_ID).toBe("link-1");
  });

  test("at the deadline the whole process group is killed, the child it started too", async () => {
    const pidFile = join(tempFolder(), "pids");
    const runner = createInstructionRunner({ allow: [], programs: { hang: handlerProgram("hang") }, timeoutMs: 1500 });
    const ack = await runner.run({ id: "h", name: "hang", args: { pidFile } }, context());
    expect(ack.ok).toBe(false);
    expect(ack.result).toContain('"hang" did not finish within 1500 ms; its process group was killed');
    const [child, program] = (await Bun.file(pidFile).text()).trim().split("\n").map(Number);
    for (const pid of [child!, program!]) {
      const end = Date.now() + 5000;
      while ((await alive(pid)) && Date.now() < end) await Bun.sleep(20);
      expect(await alive(pid)).toBe(false);
    }
  });

  test("a program that floods stdout is killed past 64 KiB and refused with that reason", async () => {
    const path = handlerProgram("flood");
    const handler = programHandler({ name: "flood", path, slots: programSlots() });
    const answer = await handler.handle({ id: "f", name: "flood", args: {} }, context());
    expect(answer).toEqual({
      ok: false,
      result: `program ${path} wrote more than 65536 bytes to stdout; it was killed`,
    });
  });

  test("a non-zero exit is refused with the status and the first line of stderr", async () => {
    const path = handlerProgram("fail");
    const handler = programHandler({ name: "fail", path, slots: programSlots() });
    expect(await handler.handle({ id: "x", name: "fail", args: {} }, context())).toEqual({
      ok: false,
      result: `program ${path} exited with status 3: something broke: the disk is full`,
    });
  });

  test("a result longer than an answer holds is refused, not cut", async () => {
    const path = handlerProgram("long");
    const handler = programHandler({ name: "long", path, slots: programSlots() });
    expect(await handler.handle({ id: "x", name: "long", args: {} }, context())).toEqual({
      ok: false,
      result: `program ${path} answered 5000 characters; a result holds at most 4096`,
    });
  });

  test("a program removed after start is refused as missing", async () => {
    const path = handlerProgram("echo");
    const handler = programHandler({ name: "gone", path, slots: programSlots() });
    rmSync(path);
    expect(await handler.handle({ id: "x", name: "gone", args: {} }, context())).toEqual({
      ok: false,
      result: `program ${path} is missing`,
    });
  });

  test("at most the configured number run at once; the rest wait, and past the queue they are refused", async () => {
    const slots = programSlots(2, 1);
    const folder = tempFolder();
    const handler = programHandler({ name: "hang", path: handlerProgram("hang"), slots });
    const stop = new AbortController();
    const runs = [0, 1, 2].map((i) =>
      handler.handle(
        { id: `h${i}`, name: "hang", args: { pidFile: join(folder, `pids-${i}`) } },
        context({ signal: stop.signal }),
      ),
    );
    const refused = await handler.handle({ id: "h3", name: "hang", args: {} }, context());
    expect(refused).toEqual({
      ok: false,
      result: expect.stringContaining("was not started: 2 programs are running and 1 waiting"),
    });
    await eventually(
      () => [0, 1].every((i) => Bun.file(join(folder, `pids-${i}`)).size > 0),
      "two programs to start",
      15_000,
    );
    expect(slots.running).toBe(2);
    expect(await Bun.file(join(folder, "pids-2")).exists()).toBe(false); // the third waits for a slot
    stop.abort();
    const answers = await Promise.all(runs);
    expect(answers.every((a) => a.ok === false)).toBe(true);
    expect(slots.running).toBe(0);
  });
});

describe("program configuration", () => {
  test("NAME=PATH pairs are checked: relative, missing, not executable, writable by others, bad names", () => {
    const folder = tempFolder();
    const good = handlerProgram("echo", folder);
    expect(parseHandlerPairs(`store-key=${good}, info-two=${good}`)).toEqual({ "store-key": good, "info-two": good });
    const plain = join(folder, "plain");
    writeFileSync(plain, "#!/bin/sh\n", { mode: 0o644 });
    const open = join(folder, "open");
    writeFileSync(open, "#!/bin/sh\n", { mode: 0o777 });
    chmodSync(open, 0o777);
    mkdirSync(join(folder, "dir"));
    const cases: Array<[string, string]> = [
      ["store-key=bin/tool", 'handler "store-key": the program must be an absolute path, not "bin/tool"'],
      [`store-key=${folder}/nope`, `handler "store-key": the program ${folder}/nope does not exist`],
      [`store-key=${plain}`, `handler "store-key": ${plain} is not executable (chmod +x ${plain})`],
      [
        `store-key=${open}`,
        `handler "store-key": ${open} may be changed by other users (mode 777); run chmod go-w ${open}`,
      ],
      [`store-key=${folder}/dir`, `handler "store-key": ${folder}/dir is not a file`],
      [
        `Store.Key=${good}`,
        'handler name "Store.Key" is not an instruction name (lowercase letters, digits and -, starting with a letter, at most 64)',
      ],
      [
        `../x=${good}`,
        'handler name "../x" is not an instruction name (lowercase letters, digits and -, starting with a letter, at most 64)',
      ],
      [good, `--handler must be NAME=/absolute/path/to/program, not "${good}"`],
      [`a=${good},a=${good}`, '--handler: handler "a" is given twice'],
    ];
    for (const [raw, message] of cases) expect(() => parseHandlerPairs(raw)).toThrow(message);
  });

  test("a handlers file names programs as JSON; a malformed one is refused with one sentence", () => {
    const folder = tempFolder();
    const good = handlerProgram("echo", folder);
    const file = join(folder, "handlers.json");
    writeFileSync(file, JSON.stringify({ handlers: { "store-key": good } }));
    expect(readHandlersFile(file)).toEqual({ "store-key": good });
    writeFileSync(file, "{ handlers: ");
    expect(() => readHandlersFile(file)).toThrow(`the handlers file ${file} is not valid JSON`);
    writeFileSync(file, JSON.stringify({ "store-key": good }));
    expect(() => readHandlersFile(file)).toThrow(
      `the handlers file ${file} must hold {"handlers": {"NAME": "/absolute/path"}}`,
    );
    writeFileSync(file, JSON.stringify({ handlers: { "store-key": "relative" } }));
    expect(() => readHandlersFile(file)).toThrow('handler "store-key": the program must be an absolute path');
    expect(() => readHandlersFile(join(folder, "none.json"))).toThrow("cannot be read");
    expect(() => mergePrograms({ a: good }, { a: good })).toThrow('handler "a" is configured twice');
    // it says what runs as the service's user: in a folder others may change it is refused, naming the folder
    writeFileSync(file, JSON.stringify({ handlers: { "store-key": good } }));
    chmodSync(folder, 0o775);
    expect(() => readHandlersFile(file)).toThrow(
      `the handlers file ${file} is refused: the folder ${folder} may be changed by other users (mode 775); run chmod go-w ${folder}`,
    );
    chmodSync(folder, 0o700);
  });

  test("a symbolic link to a program is checked as the program it points at", () => {
    const folder = tempFolder();
    const good = handlerProgram("echo", folder);
    symlinkSync(good, join(folder, "link"));
    expect(() => checkProgram("linked", join(folder, "link"))).not.toThrow();
  });

  test("a program named like a built-in or given twice is refused at start; a program's name is allowed by being configured", () => {
    const good = handlerProgram("echo");
    expect(() => createInstructionRunner({ programs: { key: good } })).toThrow(
      'handler program "key" has the name of another handler',
    );
    expect(createInstructionRunner({ allow: ["log"], programs: { "store-key": good } }).allowed).toEqual([
      "store-key",
      "log",
    ]);
    expect(() => createInstructionRunner({ allow: ["key"] })).toThrow(
      'instruction "key" is allowed but no key folder is set (--key-dir DIR)',
    );
  });
});
