// A ToolRunner that answers like a service manager from a script and records every command, for the autostart tests.
import type { ToolResult, ToolRunner } from "../../../src/service/autostart/types.ts";

export function recordingRunner(
  answer: (argv: readonly string[]) => Partial<ToolResult> = () => ({}),
): ToolRunner & { calls: string[] } {
  const calls: string[] = [];
  const run = async (argv: readonly string[]): Promise<ToolResult> => {
    calls.push(argv.join(" "));
    return { code: 0, stdout: "", stderr: "", ...answer(argv) };
  };
  return Object.assign(run, { calls });
}
