// `pkipc admin revoke-api-key KEY_ID`: an API key stops working at once.
import { defineCommand } from "citty";
import { toCittyArgs } from "../../lib/options.ts";
import { adminCall, adminOptions, positional } from "./options.ts";

export default defineCommand({
  meta: { name: "revoke-api-key", description: "Revoke an API key: pkipc admin revoke-api-key KEY_ID" },
  args: {
    ...toCittyArgs(adminOptions),
    id: { type: "positional", description: "The key's id (pkipc admin api-keys)", required: false },
  },
  async run({ args, rawArgs, data }) {
    const { api, print } = adminCall({}, args, rawArgs, data, 1);
    const k = await api.admin.revokeApiKey(positional(args, "API key", "pkipc admin revoke-api-key KEY_ID"));
    print(`revoked API key ${k.id} (${k.name})`);
  },
});
