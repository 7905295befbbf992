// The autostart backends' ToolRunner: the shared runner (src/lib/run-program.ts) with a service manager's exit codes.
import { runProgram } from "../../lib/run-program.ts";
import type { ToolResult, ToolRunner } from "./types.ts";

/** A ToolRunner that spawns the tool (no shell) and kills it after `timeoutMs` (default 15,000): 127 not installed, 124 too slow. */
export function toolRunner(options: { timeoutMs?: number; env?: Record<string, string | undefined> } = {}): ToolRunner {
  const timeoutMs = options.timeoutMs ?? 15_000;
  return async (argv): Promise<ToolResult> => {
    try {
      const run = await runProgram(argv, { timeoutMs, ...(options.env ? { env: options.env } : {}) });
      return run.exitCode === null
        ? { code: 124, stdout: run.stdout, stderr: `${argv[0]} ran past ${timeoutMs} ms and was stopped` }
        : { code: run.exitCode, stdout: run.stdout, stderr: run.stderr };
    } catch (error) {
      return { code: 127, stdout: "", stderr: `${argv[0]} could not be started: ${(error as Error).message}` };
    }
  };
}
