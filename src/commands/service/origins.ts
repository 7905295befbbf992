// `pkipc service origins [--revoke ORIGIN]`: the sites this user allowed always (--confirm desktop), listed or revoked.
import { defineCommand } from "citty";
import type { CommandEnv } from "../env.ts";
import { ConfigError } from "../../lib/errors.ts";
import { resolveOptions, text, toCittyArgs } from "../../lib/options.ts";
import { serviceOptions } from "./options.ts";
import { originsPath, readRememberedOrigins, revokeOrigin } from "../../service/consent/origins.ts";
import { defaultStateDir } from "../../service/state-dir.ts";
import { profileStateDir } from "../../service/profile.ts";

const originsOptions = {
  profile: serviceOptions.profile,
  stateDir: serviceOptions.stateDir,
  revoke: { description: "Forget this origin: its next link is asked about again", parse: text },
  json: { description: "Print the origins as a JSON list", flag: true, parse: (raw: string) => raw === "true" },
} as const;

export default defineCommand({
  meta: {
    name: "origins",
    description: "List the sites allowed always with --confirm desktop, or forget one with --revoke ORIGIN",
  },
  args: toCittyArgs(originsOptions),
  async run({ args, rawArgs, data }) {
    const { env, print } = data as CommandEnv;
    const o = resolveOptions(originsOptions, args, rawArgs, env);
    const home = env.HOME ?? env.USERPROFILE ?? "~";
    const raw = o.stateDir
      ? o.stateDir.replace(/^~(?=[\\/]|$)/, home)
      : profileStateDir(defaultStateDir(env, process.platform, home), o.profile);
    if (o.revoke !== undefined) {
      if (!revokeOrigin(raw, o.revoke))
        throw new ConfigError(`${o.revoke} is not among the allowed origins in ${originsPath(raw)}`);
      print(`revoked ${o.revoke}: its next link is asked about again (a running service reads the list at every link)`);
      return;
    }
    const list = readRememberedOrigins(raw);
    if (o.json) print(JSON.stringify(list));
    else print(list.length ? list.join("\n") : `no origins allowed always (${originsPath(raw)})`);
  },
});
