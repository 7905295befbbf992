// What a service does with an instruction from the server: one handler per instruction name.
import type { Logger } from "../lib/log.ts";
import type { Ack, Instruction, ProcessInfo } from "../protocol/schemas.ts";

export interface HandlerContext {
  log: Logger;
  /** The process whose knocks linked the session that sent the instruction. */
  process: ProcessInfo;
}

/** One kind of instruction. A handler answers with ok and a short result; it never throws for bad args. */
export interface InstructionHandler {
  readonly name: string;
  handle(instruction: Instruction, context: HandlerContext): Promise<Omit<Ack, "id">>;
}

/** Built in: writes the instruction to the service's log and acknowledges it. */
export const logHandler = {
  name: "log",
  async handle(instruction, { log, process }) {
    log.info("instruction", { name: instruction.name, pid: process.pid, args: instruction.args });
    return { ok: true, result: `logged by service pid ${globalThis.process.pid}` };
  },
} as const satisfies InstructionHandler;

export const builtinHandlers: Record<string, InstructionHandler> = { log: logHandler };

/** Runs an instruction through its handler; an unknown name or a failing handler becomes a refusal. */
export async function runInstruction(
  handlers: Record<string, InstructionHandler>,
  instruction: Instruction,
  context: HandlerContext,
): Promise<Ack> {
  const handler = Object.hasOwn(handlers, instruction.name) ? handlers[instruction.name] : undefined;
  if (!handler) return { id: instruction.id, ok: false, result: `instruction "${instruction.name}" is not allowed by this service` };
  try {
    return { id: instruction.id, ...(await handler.handle(instruction, context)) };
  } catch (error) {
    return { id: instruction.id, ok: false, result: `handler failed: ${(error as Error).message}`.slice(0, 4096) };
  }
}
