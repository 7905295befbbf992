// `pkipc service install|uninstall|status`: the per-user entry that starts the service with the user's session.
import { defaultKeyFile, profileStateDir } from "./profile.ts";
import { defineCommand } from "citty";
import { isAbsolute, join } from "node:path";
import { win32 } from "node:path";
import type { CommandEnv } from "../lib/command-env.ts";
import { ConfigError } from "../lib/errors.ts";
import { resolveOptions, toCittyArgs } from "../lib/options.ts";
import { type Autostart, type AutostartEntry, createAutostart } from "./autostart/index.ts";
import { toolRunner } from "./autostart/run-tool.ts";
import { DEFAULT_SERVER, planService, serviceOptions } from "./command.ts";
import { describeError } from "../lib/errors.ts";
import { readEnrollment } from "./key-file.ts";
import { defaultStateDir } from "./state-dir.ts";
import { readServiceState, statePath } from "./state-file.ts";
import { serverReach } from "./status-facts.ts";

const dryRun = { description: "Print what would be written and run; change nothing", flag: true, parse: (raw: string) => raw === "true" } as const;

/** The backend for this machine, with home, config folder and uid from the command layer. */
function autostartFor(env: CommandEnv["env"], program: string, profile?: string): Autostart {
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
    ...(profile ? { profile } : {}),
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
    // The service's own start checks: what it would refuse at every login is refused now, in the same words.
    planService(o, env);
    const { program, prefix } = selfProgram(self);
    const options = rawArgs.filter((a) => a !== "--dry-run" && a !== "--dryRun");
    const entry: AutostartEntry = { program, args: [...prefix, "service", ...options] };
    const autostart = autostartFor(env, program, o.profile);
    const ignored = Object.values(serviceOptions).map((s) => (s as { env?: string }).env).filter((name) => name && env[name] !== undefined);
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
  args: toCittyArgs({ dryRun, profile: serviceOptions.profile }),
  async run({ args, rawArgs, data }) {
    const { env, print, self } = data as CommandEnv;
    const o = resolveOptions({ dryRun, profile: serviceOptions.profile }, args, rawArgs, env);
    const autostart = autostartFor(env, selfProgram(self).program, o.profile);
    if (o.dryRun) {
      const status = await autostart.status();
      print(status.installed ? `would stop the service and remove ${autostart.plan({ program: "", args: [] }).target}` : "nothing to remove: not installed");
      return;
    }
    for (const line of await autostart.uninstall()) print(line);
  },
});

const statusOptions = {
  profile: serviceOptions.profile,
  keyFile: serviceOptions.keyFile,
  stateDir: serviceOptions.stateDir,
  json: { description: "Print the facts as one JSON object", flag: true, parse: (raw: string) => raw === "true" },
} as const;

export const status = defineCommand({
  meta: {
    name: "status",
    description: "Whether the service runs (PID, since when), its server and whether it answers, ports, origins, last link; exit 0 running, 3 not running, 4 not installed",
  },
  args: toCittyArgs(statusOptions),
  async run({ args, rawArgs, data }) {
    const { env, print, self, setExitCode } = data as CommandEnv;
    const o = resolveOptions(statusOptions, args, rawArgs, env);
    const home = env.HOME ?? env.USERPROFILE ?? "~";
    const stateDir = o.stateDir ? o.stateDir.replace(/^~(?=[\\/]|$)/, home) : profileStateDir(defaultStateDir(env, process.platform, home), o.profile);
    const found = readServiceState(statePath(stateDir));
    const state = found?.live ? found.state : undefined;
    const backend = autostartFor(env, selfProgram(self).program, o.profile);
    const autostart = await backend.status();
    // Whether it runs comes from the service itself (its state file), not the autostart manager, which may not answer.
    const installation = autostart.installed ? `installed at ${backend.plan({ program: "", args: [] }).target}` : "not installed to start at login (pkipc service install)";
    // Enrollment: what the running service uses, else what its key file says.
    let enrollment: { server?: string; serviceId?: string; problem?: string } = {};
    if (state) enrollment = { server: state.server, serviceId: state.serviceId };
    else {
      try {
        const read = readEnrollment((o.keyFile ?? defaultKeyFile(o.profile)).replace(/^~(?=[\\/]|$)/, home));
        enrollment = { server: read.server ?? DEFAULT_SERVER, serviceId: read.credentials.serviceId };
      } catch (error) {
        enrollment = { problem: describeError(error) };
      }
    }
    const reach = enrollment.server ? await serverReach(enrollment.server) : undefined;
    // As systemctl status: 0 running, 3 not running, 4 no such service installed.
    const exitCode = state ? 0 : autostart.installed ? 3 : 4;
    setExitCode(exitCode);
    const facts = {
      running: Boolean(state),
      pid: state?.pid,
      since: state?.startedAt,
      installed: autostart.installed,
      autostart: installation,
      server: enrollment.server,
      serviceId: enrollment.serviceId,
      enrollmentProblem: enrollment.problem,
      serverAnswers: reach?.answers,
      serverDetail: reach?.detail,
      ports: state ? { range: state.range, held: state.held, heldPorts: state.heldPorts, missing: state.missing } : undefined,
      allowOrigins: state?.allowOrigins,
      instructions: state?.instructions,
      lastLink: state?.lastLink,
      staleStateFile: found && !found.live ? `a state file of PID ${found.state.pid} (no longer running) was left in ${stateDir}` : undefined,
      exitCode,
    };
    if (o.json) {
      print(JSON.stringify(facts));
      return;
    }
    print(`pkipc service: ${state ? `running as PID ${state.pid} since ${state.startedAt}` : "not running"}; ${installation}`);
    if (facts.staleStateFile) print(`  note: ${facts.staleStateFile} (it stopped without cleaning up)`);
    if (enrollment.problem) print(`  enrollment: ${enrollment.problem}`);
    else print(`  server: ${enrollment.server} (enrolled as ${enrollment.serviceId}); ${reach?.detail}`);
    if (state) {
      const missing = state.missing.length ? `; missing ${state.missing.length}: ${state.missing.map((m) => `${m.port}(${m.reason})`).join(",")}` : "";
      print(`  ports: ${state.held} of ${state.held + state.missing.length} held on ${state.host} (${state.heldPorts})${missing}`);
      print(`  origins allowed: ${state.allowOrigins === "any" ? "any" : state.allowOrigins.join(", ")}; instructions: ${state.instructions.join(", ") || "none"}`);
      print(`  last link: ${state.lastLink ? `${state.lastLink.at} from ${state.lastLink.origin} (${state.lastLink.process}, PID ${state.lastLink.pid})` : "none since start"}`);
    }
  },
});

/** The actions of `pkipc service`, loaded by the entry point when the first argument names one. */
export const serviceActions = { install, uninstall, status };
