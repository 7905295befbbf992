// `pkipc admin api-keys`: the API keys issued, with their origins and webhooks.
import { defineCommand } from "citty";
import { toCittyArgs } from "../../lib/options.ts";
import { jsonOption } from "../options.ts";
import { adminCall, adminOptions } from "./options.ts";

const own = { json: jsonOption("Print the list as JSON") } as const;

export default defineCommand({
  meta: { name: "api-keys", description: "List the API keys, revoked ones marked" },
  args: toCittyArgs({ ...adminOptions, ...own }),
  async run({ args, rawArgs, data }) {
    const { o, api, print } = adminCall(own, args, rawArgs, data);
    const list = await api.admin.apiKeys();
    if (o.json) return print(JSON.stringify(list, null, 2));
    for (const k of list.apiKeys)
      print(
        `${k.id}  ${k.name}  ${k.origin}${k.webhook ? `  webhook ${k.webhook}` : ""}  made ${k.createdAt}${k.revokedAt ? `  REVOKED ${k.revokedAt}` : ""}`,
      );
  },
});
