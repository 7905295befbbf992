#!/usr/bin/env bun
// The pkipc binary: one entry point, subcommands loaded lazily; the only place that exits.
import { type CommandDef, defineCommand, renderUsage, runCommand } from "citty";
import type { CommandEnv } from "./lib/command-env.ts";
import { describeError, PkipcError } from "./lib/errors.ts";
import { formatHelp, helpWidth } from "./lib/help.ts";
import { createLogger, type LogFormat, type LogLevel } from "./lib/log.ts";
import { VERSION } from "./version.ts";

const subCommands: Record<string, () => Promise<CommandDef<any>>> = {
  server: () => import("./server/command.ts").then((m) => m.default),
  service: () => import("./service/command.ts").then((m) => m.default),
  client: () => import("./client/command.ts").then((m) => m.default),
  demo: () => import("./demo/command.ts").then((m) => m.default),
  admin: () => import("./server/admin-command.ts").then((m) => m.default),
};

/** Actions named by the word after a role (`pkipc service install`): each its own command with its own options. */
const actions: Record<string, Record<string, () => Promise<CommandDef<any>>>> = {
  service: {
    install: () => import("./service/autostart-command.ts").then((m) => m.install),
    uninstall: () => import("./service/autostart-command.ts").then((m) => m.uninstall),
    status: () => import("./service/autostart-command.ts").then((m) => m.status),
    origins: () => import("./service/origins-command.ts").then((m) => m.default),
  },
};

const main = defineCommand({
  meta: { name: "pkipc", version: VERSION, description: "Deliver a key from a web server to a local service through a browser, by port knocking on loopback" },
  subCommands,
});

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
    process.stderr.write("pkipc: PKIPC_LOG_LEVEL must be debug, info, warn or error and PKIPC_LOG_FORMAT text or json\n");
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
  const name = argv[0]!;
  const loader = Object.hasOwn(subCommands, name) ? subCommands[name] : undefined;
  if (!loader) {
    process.stderr.write(`pkipc: unknown command "${name}"; one of server, service, client, demo, admin (see pkipc --help)\n`);
    return 64;
  }
  const roleActions = actions[name] ?? {};
  const action = argv[1] !== undefined && Object.hasOwn(roleActions, argv[1]) ? argv[1] : undefined;
  const command = action ? await roleActions[action]!() : await loader();
  const rest = argv.slice(action ? 2 : 1);
  const label = action ? `${name} ${action}` : name;
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(`${help(await renderUsage(command, action ? await loader() : main))}\n`);
    return 0;
  }
  try {
    await runCommand(command, { rawArgs: rest, data });
  } catch (error) {
    process.stderr.write(`pkipc ${label}: ${describeError(error)}\n`);
    if (!(error instanceof PkipcError) && env.PKIPC_LOG_LEVEL === "debug") process.stderr.write(`${(error as Error).stack}\n`);
    return error instanceof PkipcError && error.code === "CONFIG" ? 64 : 1;
  }
  return exitCode;
}

process.exit(await run(process.argv.slice(2)));
