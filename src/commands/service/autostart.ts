// What install, uninstall and status share: the autostart backend for this machine and this program's own path.
import { isAbsolute, join, win32 } from "node:path";
import type { CommandEnv } from "../env.ts";
import { ConfigError } from "../../lib/errors.ts";
import { type Autostart, createAutostart } from "../../service/autostart/index.ts";
import { toolRunner } from "../../service/autostart/run-tool.ts";

/** --dry-run of install and uninstall. */
export const dryRun = {
  description: "Print what would be written and run; change nothing",
  flag: true,
  parse: (raw: string) => raw === "true",
} as const;

/** The backend for this machine, with home, config folder and uid from the command layer. */
export function autostartFor(env: CommandEnv["env"], program: string, profile?: string): Autostart {
  const platform = process.platform;
  const home = platform === "win32" ? (env.USERPROFILE ?? env.HOME) : env.HOME;
  if (!home)
    throw new ConfigError(
      `${platform === "win32" ? "USERPROFILE" : "HOME"} is not set: cannot tell where to install the service for this user`,
    );
  return createAutostart(platform, {
    home,
    configHome: env.XDG_CONFIG_HOME || join(home, ".config"),
    uid: process.getuid?.() ?? 0,
    run: toolRunner(),
    program,
    selfPid: process.pid,
    ...(profile ? { profile } : {}),
  });
}

/** The binary by absolute path (or bun and the entry script, when run from source). */
export function selfProgram(self: readonly string[]): { program: string; prefix: string[] } {
  const [program, ...prefix] = self;
  if (!program || !(isAbsolute(program) || win32.isAbsolute(program)))
    throw new ConfigError(`cannot tell this program's absolute path (got "${program ?? ""}")`);
  return { program, prefix };
}
