// Built-in `log`: writes the instruction to the service's log and acknowledges it (a harmless default to try a link with).
import type { InstructionHandler } from "./types.ts";

export const logHandler = {
  name: "log",
  async handle(instruction, { log, process }) {
    log.info("instruction", { name: instruction.name, pid: process.pid, args: instruction.args });
    return { ok: true, result: `logged by service pid ${globalThis.process.pid}` };
  },
} as const satisfies InstructionHandler;
