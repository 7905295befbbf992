#!/usr/bin/env bun
// The pkipc binary: one entry point, subcommands loaded lazily; the only place that exits.
import { type CommandDef, defineCommand, renderUsage, runCommand } from "citty";
import main from "./commands/index.ts";
import type { CommandEnv } from "./commands/env.ts";
import { formatHelp, helpWidth } from "./commands/help.ts";
import { describeError, PkipcError } from "./lib/errors.ts";
import { createLogger, type LogFormat, type LogLevel } from "./lib/log.ts";
import { VERSION } from "./version.ts";

type Command = CommandDef<any>;

/** The subcommands a command declares, loaded; empty when it has none. */
async function subCommandsOf(command: Command): Promise<Record<string, () => Promise<Command>>> {
  const subs =
    (typeof command.subCommands === "function" ? await command.subCommands() : await command.subCommands) ?? {};
  return subs as Record<string, () => Promise<Command>>;
}

/**
 * The command argv names, found by walking the citty tree from the root: each leading word that names a
 * subcommand goes one level down (`pkipc service install --dry-run`). A word that names none is an
 * error when the command has nothing to run itself (`pkipc admin tokn`), and an argument otherwise.
 */
async function findCommand(
  argv: string[],
): Promise<{ command: Command; path: string[]; rest: string[]; unknown?: string }> {
  let command: Command = main;
  const path: string[] = [];
  let rest = argv;
  for (;;) {
    const subs = await subCommandsOf(command);
    const names = Object.keys(subs);
    if (names.length === 0) break;
    const word = rest[0];
    if (word !== undefined && Object.hasOwn(subs, word)) {
      command = await subs[word]!();
      path.push(word);
      rest = rest.slice(1);
      continue;
    }
    if (command.run || word === "--help" || word === "-h") break;
    const what = path.length ? "action" : "command";
    const where = path.length ? `pkipc ${path.join(" ")}` : "pkipc";
    // Options come after the action's name (pkipc admin token --server URL), as they do after a role's.
    const named =
      word === undefined || word.startsWith("-")
        ? `say which ${what}, right after "${where}"`
        : `unknown ${what} "${word}"`;
    const unknown = `${named}; one of ${names.join(", ")} (see ${where} --help)`;
    return { command, path, rest, unknown };
  }
  return { command, path, rest };
}

/** How to run this program again: the compiled binary alone, or bun with this script. */
function selfCommand(): string[] {
  // Bun.main is /$bunfs/root/… in a Linux or macOS build, B:/~BUN/root/… (forward slashes) in a Windows one
  const compiled = /^(\/\$bunfs\/|B:[\\/]~BUN[\\/])/.test(Bun.main);
  return compiled ? [process.execPath] : [process.execPath, Bun.main];
}

/** citty's usage at this terminal's width (80 columns when it is no terminal), colours only for a terminal that wants them. */
function help(usage: string): string {
  // Colours only for a terminal that wants them: not into a file, a pipe or a pager that shows the codes.
  const plain = !process.stdout.isTTY || process.env.NO_COLOR !== undefined;
  return formatHelp(usage, helpWidth(process.stdout.isTTY ? process.stdout.columns : undefined), plain);
}

async function run(argv: string[]): Promise<number> {
  const env = process.env;
  const level = (env.PKIPC_LOG_LEVEL ?? "info") as LogLevel;
  const format = (env.PKIPC_LOG_FORMAT ?? "text") as LogFormat;
  if (!["debug", "info", "warn", "error"].includes(level) || !["text", "json"].includes(format)) {
    process.stderr.write(
      "pkipc: PKIPC_LOG_LEVEL must be debug, info, warn or error and PKIPC_LOG_FORMAT text or json\n",
    );
    return 64;
  }
  let exitCode = 0;
  const data: CommandEnv = {
    env,
    log: createLogger({ level, format }),
    print: (line) => process.stdout.write(`${line}\n`),
    setExitCode: (code) => {
      exitCode = code;
    },
    self: selfCommand(),
    waitForSignal: () =>
      new Promise((resolve) => {
        process.once("SIGINT", () => resolve("SIGINT"));
        process.once("SIGTERM", () => resolve("SIGTERM"));
      }),
  };
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h") {
    // asked for help: stdout and success; no subcommand at all is a usage error (64), on stderr
    const usage = `${help(`${await renderUsage(main)}\n\nEach role has its own options: pkipc <role> --help`)}\n`;
    (argv.length === 0 ? process.stderr : process.stdout).write(usage);
    return argv.length === 0 ? 64 : 0;
  }
  if (argv[0] === "--version" || argv[0] === "-v") {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const { command, path, rest, unknown } = await findCommand(argv);
  if (unknown && !rest.includes("--help") && !rest.includes("-h")) {
    process.stderr.write(`${["pkipc", ...path].join(" ")}: ${unknown}\n`);
    return 64;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    // The usage line names the whole path (pkipc admin revoke), so the parent given is named so.
    const above = path.length
      ? defineCommand({ meta: { name: ["pkipc", ...path.slice(0, -1)].join(" ") } })
      : undefined;
    let usage = await renderUsage(command, above);
    // An action's options come after its name (pkipc admin token --server URL): citty's usage line puts them
    // before the actions, where they are refused. A command that also runs alone (pkipc service) says both forms.
    if (Object.keys(await subCommandsOf(command)).length) {
      const name = ["pkipc", ...path].join(" ");
      usage = usage.replace(/^(.*USAGE.*?) \[OPTIONS\] (\S+?)(\x1b\[[0-9;]*m)?$/m, (_, head, actions, end = "") =>
        command.run ? `${head} [OPTIONS], or ${name} ${actions} [OPTIONS]${end}` : `${head} ${actions} [OPTIONS]${end}`,
      );
    }
    process.stdout.write(`${help(usage)}\n`);
    return 0;
  }
  try {
    // The found command alone: citty's own walk would read an option's value as a subcommand's name.
    await runCommand({ ...command, subCommands: undefined }, { rawArgs: rest, data });
  } catch (error) {
    process.stderr.write(`pkipc ${path.join(" ")}: ${describeError(error)}\n`);
    if (!(error instanceof PkipcError) && env.PKIPC_LOG_LEVEL === "debug")
      process.stderr.write(`${(error as Error).stack}\n`);
    return error instanceof PkipcError && error.code === "CONFIG" ? 64 : 1;
  }
  return exitCode;
}

process.exit(await run(process.argv.slice(2)));
