// `pkipc admin revoke SERVICE_ID`: a service's key stops working at once.
import { defineCommand } from "citty";
import { toCittyArgs } from "../../lib/options.ts";
import { adminCall, adminOptions, positional } from "./options.ts";

export default defineCommand({
  meta: { name: "revoke", description: "Revoke an enrolled service's key: pkipc admin revoke SERVICE_ID" },
  args: {
    ...toCittyArgs(adminOptions),
    id: { type: "positional", description: "The service's id (pkipc admin services)", required: false },
  },
  async run({ args, rawArgs, data }) {
    const { api, print } = adminCall({}, args, rawArgs, data, 1);
    const s = await api.admin.revokeService(positional(args, "service", "pkipc admin revoke SERVICE_ID"));
    print(`revoked ${s.id} (${s.name})`);
  },
});
