// `pkipc admin token`: a one-time enrollment token, for `pkipc service --enroll TOKEN` on the user's machine.
import { defineCommand } from "citty";
import { toCittyArgs } from "../../lib/options.ts";
import { adminCall, adminOptions } from "./options.ts";

export default defineCommand({
  meta: { name: "token", description: "Print a one-time token a service enrolls with (pkipc service --enroll TOKEN)" },
  args: toCittyArgs(adminOptions),
  async run({ args, rawArgs, data }) {
    const { o, api, print } = adminCall({}, args, rawArgs, data);
    const { token, expiresAt } = await api.admin.token();
    print(token);
    print(`# one use, until ${expiresAt}: pkipc service --server ${o.server.origin} --enroll TOKEN`);
  },
});
