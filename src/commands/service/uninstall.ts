// `pkipc service uninstall`: stop the installed service and remove its autostart entry.
import { defineCommand } from "citty";
import type { CommandEnv } from "../env.ts";
import { resolveOptions, toCittyArgs } from "../../lib/options.ts";
import { autostartFor, dryRun, selfProgram } from "./autostart.ts";
import { serviceOptions } from "./options.ts";

export default defineCommand({
  meta: { name: "uninstall", description: "Stop the installed service and remove what `pkipc service install` wrote" },
  args: toCittyArgs({ dryRun, profile: serviceOptions.profile }),
  async run({ args, rawArgs, data }) {
    const { env, print, self } = data as CommandEnv;
    const o = resolveOptions({ dryRun, profile: serviceOptions.profile }, args, rawArgs, env);
    const autostart = autostartFor(env, selfProgram(self).program, o.profile);
    if (o.dryRun) {
      const status = await autostart.status();
      print(
        status.installed
          ? `would stop the service and remove ${autostart.plan({ program: "", args: [] }).target}`
          : "nothing to remove: not installed",
      );
      return;
    }
    for (const line of await autostart.uninstall()) print(line);
  },
});
