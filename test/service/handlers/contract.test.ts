// One contract for every instruction handler (built-ins, program, function): no throw on bad args, answers within bounds, stops at its deadline.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { silentLogger } from "../../../src/lib/log.ts";
import type { Instruction, ProcessInfo } from "../../../src/protocol/schemas.ts";
import { functionHandler } from "../../../src/service/handlers/function.ts";
import { MAX_RESULT, runInstruction } from "../../../src/service/handlers/index.ts";
import type { HandlerContext, InstructionHandler } from "../../../src/service/handlers/types.ts";
import { infoHandler } from "../../../src/service/handlers/info.ts";
import { keyHandler } from "../../../src/service/handlers/key.ts";
import { logHandler } from "../../../src/service/handlers/log.ts";
import { programHandler, programSlots } from "../../../src/service/handlers/program.ts";
import { tempFolder } from "../../helpers.ts";
import { handlerProgram } from "./programs.ts";

interface Subject {
  /** Builds the handler (in the test, so its temp folders are cleaned up after it). */
  make(): InstructionHandler;
  /** Args it carries out. */
  good: Record<string, string>;
  /** Args that keep it busy until its signal aborts, for handlers that can be slow. */
  slow?: Record<string, string>;
}

const subjects: Record<string, Subject> = {
  log: { make: () => logHandler, good: { message: "hello" } },
  key: { make: () => keyHandler({ dir: join(tempFolder(), "keys") }), good: { name: "acme-api", secret: "s3cret" } },
  info: { make: () => infoHandler(), good: {} },
  program: {
    make: () => programHandler({ name: "echo-args", path: handlerProgram("echo"), slots: programSlots() }),
    good: { x: "1" },
    slow: { hang: "yes" },
  },
  function: {
    make: () =>
      functionHandler("key-store", async (args, { signal }) => {
        if (args.hang && !signal.aborted)
          await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
        return { ok: true, result: `stored ${Object.keys(args).length} args` };
      }),
    good: { name: "a", secret: "b" },
    slow: { hang: "yes" },
  },
};

export const knocker: ProcessInfo = {
  pid: 4242,
  ppid: 1,
  uid: 1000,
  user: "ana",
  exe: "/usr/lib/chromium/chromium",
  name: "chromium",
  browser: { name: "chromium", version: "156.0.1", pid: 4200, exe: "/usr/lib/chromium/chromium" },
};

function context(signal = new AbortController().signal): HandlerContext {
  return { log: silentLogger, process: knocker, linkId: "link-1", origin: "https://saas.example", signal };
}

const instruction = (name: string, args: Record<string, string>, id = "i1"): Instruction => ({ id, name, args });

/** Args a server could send (the schema allows any string keys and values up to 4096): none should crash a handler. */
const BAD_ARGS: Record<string, string>[] = [
  {},
  { name: "../../etc/passwd", secret: "x" },
  { name: "", secret: "" },
  { name: ".hidden", secret: "x" },
  { name: "a/b", secret: "x" },
  { name: "x".repeat(65), secret: "y" },
  { ["__proto__"]: "polluted", constructor: "x", toString: "y" },
  { fields: "hostname,user,nope,,," },
  Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, "v".repeat(4096)])),
  { "\u0000": "\u0000\u001b[31m", é: "ü".repeat(4096) },
];

function expectBounded(answer: { ok: unknown; result: unknown }): void {
  expect(typeof answer.ok).toBe("boolean");
  expect(typeof answer.result).toBe("string");
  expect((answer.result as string).length).toBeLessThanOrEqual(MAX_RESULT);
  if (answer.ok === false) expect((answer.result as string).length).toBeGreaterThan(0);
}

for (const [kind, subject] of Object.entries(subjects)) {
  describe(`handler contract: ${kind}`, () => {
    test("carries out a good instruction with ok and a bounded result", async () => {
      const handler = subject.make();
      const answer = await handler.handle(instruction(handler.name, subject.good), context());
      expectBounded(answer);
      expect(answer).toMatchObject({ ok: true });
    });

    test("never throws for bad args, and answers within the schema's bounds", async () => {
      const handler = subject.make();
      for (const args of BAD_ARGS) {
        const answer = await handler.handle(instruction(handler.name, args), context());
        expectBounded(answer);
      }
    });

    test("run through runInstruction, an already-aborted instruction still gets one bounded answer", async () => {
      const handler = subject.make();
      const stop = new AbortController();
      stop.abort();
      const ack = await runInstruction(
        { [handler.name]: handler },
        instruction(handler.name, subject.slow ?? subject.good, "i9"),
        { ...context(), signal: stop.signal },
        5000,
      );
      expect(ack.id).toBe("i9");
      expectBounded(ack);
    });

    if (subject.slow) {
      test("stops at its deadline and is refused with a sentence that says so", async () => {
        const handler = subject.make();
        const ack = await runInstruction(
          { [handler.name]: handler },
          instruction(handler.name, subject.slow!),
          context(),
          500,
        );
        expect(ack.ok).toBe(false);
        expect(ack.result).toContain("did not finish within 500 ms");
      });
    }
  });
}

describe("runInstruction", () => {
  test("an unknown name, a throwing handler, an answer out of bounds and a malformed answer each become a refusal", async () => {
    const handlers: Record<string, InstructionHandler> = {
      boom: {
        name: "boom",
        handle: async () => {
          throw new Error("kaput");
        },
      },
      long: { name: "long", handle: async () => ({ ok: true, result: "z".repeat(MAX_RESULT + 1) }) },
      odd: { name: "odd", handle: async () => ({ ok: "yes", result: 7 }) as never },
    };
    const ctx = context();
    expect(await runInstruction(handlers, instruction("exec", {}), ctx)).toEqual({
      id: "i1",
      ok: false,
      result: 'instruction "exec" is not allowed by this service',
    });
    expect(await runInstruction(handlers, instruction("boom", {}), ctx)).toEqual({
      id: "i1",
      ok: false,
      result: "handler failed: kaput",
    });
    expect(await runInstruction(handlers, instruction("long", {}), ctx)).toMatchObject({
      ok: false,
      result: expect.stringContaining(`at most ${MAX_RESULT}`),
    });
    expect(await runInstruction(handlers, instruction("odd", {}), ctx)).toMatchObject({
      ok: false,
      result: expect.stringContaining("{ ok, result }"),
    });
  });

  test("a handler that ignores its signal is given up on after the deadline, with the deadline named", async () => {
    const stuck: InstructionHandler = { name: "stuck", handle: () => new Promise(() => {}) };
    const ack = await runInstruction({ stuck }, instruction("stuck", {}), context(), 200);
    expect(ack).toEqual({
      id: "i1",
      ok: false,
      result: '"stuck" did not finish within 200 ms; its answer was not awaited',
    });
  });
});
