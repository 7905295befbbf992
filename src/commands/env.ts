// What the CLI entry point hands every subcommand: environment, logger, and how to wait for a stop signal.
import type { Logger } from "../lib/log.ts";

export interface CommandEnv {
  env: Record<string, string | undefined>;
  log: Logger;
  /** Resolves on SIGINT or SIGTERM, with the signal's name (for the shutdown line). */
  waitForSignal(): Promise<string | void>;
  /** Standard output, for results (logs go to stderr). */
  print(line: string): void;
  /** Sets the process exit code the entry point will use. */
  setExitCode(code: number): void;
  /** How to start this same program again (the compiled binary, or bun with the entry script). */
  self: string[];
}
