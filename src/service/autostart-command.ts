// `pkipc service install|uninstall|status`: the per-user entry that starts the service with the user's session.
import { defineCommand } from "citty";
import { isAbsolute, join } from "node:path";
import { win32 } from "node:path";
import type { CommandEnv } from "../lib/command-env.ts";
import { ConfigError } from "../lib/errors.ts";
import { resolveOptions, toCittyArgs } from "../lib/options.ts";
import { type Autostart, type AutostartEntry, createAutostart } from "./autostart/index.ts";
import { toolRunner } from "./autostart/run-tool.ts";
import { serviceOptions } from "./command.ts";

const dryRun = { description: "Print what would be written and run; change nothing", flag: true, parse: (raw: string) => raw === "true" } as const;

/** The backend for this machine, with home, config folder and uid from the command layer. */
function autostartFor(env: CommandEnv["env"], program: string): Autostart {
  const platform = process.platform;
  const home = platform === "win32" ? env.USERPROFILE ?? env.HOME : env.HOME;
  if (!home) throw new ConfigError(`${platform === "win32" ? "USERPROFILE" : "HOME"} is not set: cannot tell where to install the service for this user`);
  return createAutostart(platform, {
    home,
    configHome: env.XDG_CONFIG_HOME || join(home, ".config"),
    uid: process.getuid?.() ?? 0,
    run: toolRunner(),
    program,
    selfPid: process.pid,
  });
}

/** The binary by absolute path (or bun and the entry script, when run from source). */
function selfProgram(self: readonly string[]): { program: string; prefix: string[] } {
  const [program, ...prefix] = self;
  if (!program || !(isAbsolute(program) || win32.isAbsolute(program))) throw new ConfigError(`cannot tell this program's absolute path (got "${program ?? ""}")`);
  return { program, prefix };
}

const show = (argv: readonly string[]) => argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(" ");

export const install = defineCommand({
  meta: { name: "install", description: "Start `pkipc service` with these options at every login of this user (systemd user unit, LaunchAgent, or Windows Run key)" },
  args: toCittyArgs({ ...serviceOptions, dryRun }),
  async run({ args, rawArgs, data }) {
    const { env, print, self } = data as CommandEnv;
    const o = resolveOptions({ ...serviceOptions, dryRun }, args, rawArgs, {});
    if (o.enroll) throw new ConfigError("--enroll takes a one-time token: enroll once with `pkipc service --enroll TOKEN`, then install without it");
    if (o.confirm === "ask") throw new ConfigError("--confirm ask needs a terminal, which a service started at login does not have");
    const { program, prefix } = selfProgram(self);
    const options = rawArgs.filter((a) => a !== "--dry-run" && a !== "--dryRun");
    const entry: AutostartEntry = { program, args: [...prefix, "service", ...options] };
    const autostart = autostartFor(env, program);
    const ignored = Object.values(serviceOptions).map((s) => s.env).filter((name) => name && env[name] !== undefined);
    if (ignored.length) print(`note: ${ignored.join(", ")} set in this shell are not carried into the installed service; pass them as options`);
    if (o.dryRun) {
      const plan = autostart.plan(entry);
      print(`would write ${plan.target}:`);
      print(plan.content.trimEnd());
      for (const command of plan.commands) print(`would run: ${show(command)}`);
      return;
    }
    for (const line of await autostart.install(entry)) print(line);
  },
});

export const uninstall = defineCommand({
  meta: { name: "uninstall", description: "Stop the installed service and remove what `pkipc service install` wrote" },
  args: toCittyArgs({ dryRun }),
  async run({ args, rawArgs, data }) {
    const { env, print, self } = data as CommandEnv;
    const o = resolveOptions({ dryRun }, args, rawArgs, {});
    const autostart = autostartFor(env, selfProgram(self).program);
    if (o.dryRun) {
      const status = await autostart.status();
      print(status.installed ? `would stop the service and remove ${autostart.plan({ program: "", args: [] }).target}` : "nothing to remove: not installed");
      return;
    }
    for (const line of await autostart.uninstall()) print(line);
  },
});

export const status = defineCommand({
  meta: { name: "status", description: "Say whether the service is installed for this user and whether it runs" },
  args: toCittyArgs({}),
  async run({ args, rawArgs, data }) {
    const { env, print, self } = data as CommandEnv;
    resolveOptions({}, args, rawArgs, {});
    const result = await autostartFor(env, selfProgram(self).program).status();
    print(`pkipc service: ${result.detail}`);
  },
});

/** The actions of `pkipc service`, loaded by the entry point when the first argument names one. */
export const serviceActions = { install, uninstall, status };
