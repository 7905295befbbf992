// Handlers written as functions in the integrator's own code (the library's typed handlers), behind the same seam as the built-ins.
import type { HandlerAnswer, HandlerContext, InstructionHandler } from "./types.ts";

/** What a function handler is told besides the args: the context, and which instruction this is. */
export interface FunctionHandlerContext extends HandlerContext {
  instruction: { id: string; name: string };
}

/**
 * A typed handler: receives the instruction's args (string to string, as the protocol carries them)
 * and answers `{ ok, result }` with a result of at most 4096 characters. It should stop when
 * `context.signal` aborts; one that throws is answered as a refusal with its message.
 */
export type HandlerFunction = (
  args: Readonly<Record<string, string>>,
  context: FunctionHandlerContext,
) => HandlerAnswer | Promise<HandlerAnswer>;

/** Wraps a function as an InstructionHandler named `name`. */
export function functionHandler(name: string, fn: HandlerFunction): InstructionHandler {
  return {
    name,
    async handle(instruction, context) {
      const answer = await fn(
        { ...instruction.args },
        { ...context, instruction: { id: instruction.id, name: instruction.name } },
      );
      return { ok: answer?.ok, result: answer?.result } as HandlerAnswer;
    },
  };
}
