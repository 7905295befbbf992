// `pkipc service install`: the per-user entry that starts the service with the user's session.
import { defineCommand } from "citty";
import type { CommandEnv } from "../env.ts";
import { ConfigError } from "../../lib/errors.ts";
import { resolveOptions, toCittyArgs } from "../../lib/options.ts";
import type { AutostartEntry } from "../../service/autostart/index.ts";
import { autostartFor, dryRun, selfProgram } from "./autostart.ts";
import { planService, serviceOptions } from "./options.ts";

const show = (argv: readonly string[]) =>
  argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(" ");

// Enrolling is a step of its own (`pkipc service --enroll TOKEN`): its options are not install's.
const { enroll: _enroll, force: _force, name: _name, ...installable } = serviceOptions;
export const installOptions = { ...installable, dryRun };

export default defineCommand({
  meta: {
    name: "install",
    description:
      "Start `pkipc service` with these options at every login of this user (systemd user unit, LaunchAgent, or Windows Run key)",
  },
  args: toCittyArgs(installOptions),
  async run({ args, rawArgs, data }) {
    const { env, print, self } = data as CommandEnv;
    if (rawArgs.some((a) => a === "--enroll" || a.startsWith("--enroll=")))
      throw new ConfigError(
        "--enroll takes a one-time token: enroll once with `pkipc service --enroll TOKEN`, then install without it",
      );
    // The service's own start checks see no enrollment (its options are not install's).
    const o = { ...resolveOptions(installOptions, args, rawArgs, {}), enroll: "", force: false, name: "" };
    if (o.confirm === "ask")
      throw new ConfigError("--confirm ask needs a terminal, which a service started at login does not have");
    // The service's own start checks: what it would refuse at every login is refused now, in the same words.
    planService(o, env);
    const { program, prefix } = selfProgram(self);
    const options = rawArgs.filter((a) => a !== "--dry-run" && a !== "--dryRun");
    const entry: AutostartEntry = { program, args: [...prefix, "service", ...options] };
    const autostart = autostartFor(env, program, o.profile);
    const ignored = Object.values(serviceOptions)
      .map((s) => (s as { env?: string }).env)
      .filter((name) => name && env[name] !== undefined);
    if (ignored.length)
      print(
        `note: ${ignored.join(", ")} set in this shell are not carried into the installed service; pass them as options`,
      );
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
