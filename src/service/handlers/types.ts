// The handler seam: what one kind of instruction is given and answers. Its own file, so handlers and the runner that loads them import it without a circle.
import type { Logger } from "../../lib/log.ts";
import type { Ack, Instruction, ProcessInfo } from "../../protocol/schemas.ts";

/** Where an instruction came from: the link, the process behind it, and when to give up. */
export interface HandlerContext {
  log: Logger;
  /** The process whose knocks linked the session that sent the instruction. */
  process: ProcessInfo;
  /** The link the instruction arrived on. */
  linkId: string;
  /** The session's id, when the server names it to the service (it does not yet: then absent). */
  sessionId?: string;
  /** The session's web origin, as the server's report answer names it; absent when the session has none. */
  origin?: string;
  /** Aborted at the instruction's deadline (its reason says so) or when the service stops. */
  signal: AbortSignal;
}

/** What a handler answers: ok or not, and a short result (at most MAX_RESULT characters). */
export type HandlerAnswer = Omit<Ack, "id">;

/**
 * One kind of instruction. A handler answers with ok and a short result; it never throws for bad args,
 * and stops its work when `context.signal` aborts.
 */
export interface InstructionHandler {
  readonly name: string;
  handle(instruction: Instruction, context: HandlerContext): Promise<HandlerAnswer>;
}
