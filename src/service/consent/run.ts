// Runs a dialog program through the shared runner (src/lib/run-program.ts): one that is not installed is a dialog this desktop lacks.
import { DialogUnavailableError } from "../../lib/errors.ts";
import { type ProgramRun, runProgram } from "../../lib/run-program.ts";

/** Most bytes of a dialog's output read (an answer is a word; anything more is not read). */
const MAX_OUTPUT = 4096;

export type DialogRun = ProgramRun;

/**
 * Runs `argv`, killing it after `timeoutMs` (then exitCode is null). A program that is not installed
 * rejects with DialogUnavailableError naming `hint` (how to install it).
 */
export async function runDialog(
  argv: string[],
  timeoutMs: number,
  hint: string,
  env?: Record<string, string | undefined>,
): Promise<DialogRun> {
  try {
    return await runProgram(argv, { timeoutMs, maxOutput: MAX_OUTPUT, ...(env ? { env } : {}) });
  } catch (error) {
    throw new DialogUnavailableError(`${argv[0]} could not start (${(error as Error).message}): ${hint}`, {
      cause: error,
    });
  }
}
