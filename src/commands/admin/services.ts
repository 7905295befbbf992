// `pkipc admin services`: the enrolled services, when each was last seen and from where.
import { defineCommand } from "citty";
import { toCittyArgs } from "../../lib/options.ts";
import { jsonOption } from "../options.ts";
import { adminCall, adminOptions } from "./options.ts";

const own = { json: jsonOption("Print the list as JSON") } as const;

export default defineCommand({
  meta: { name: "services", description: "List the enrolled services, revoked ones marked" },
  args: toCittyArgs({ ...adminOptions, ...own }),
  async run({ args, rawArgs, data }) {
    const { o, api, print } = adminCall(own, args, rawArgs, data);
    const list = await api.admin.services();
    if (o.json) return print(JSON.stringify(list, null, 2));
    for (const s of list.services) {
      const seen = s.lastSeenAt
        ? `  last seen ${s.lastSeenAt} from ${s.address ?? "?"} (pkipc ${s.version ?? "0.2 or older"})`
        : "  never seen";
      print(`${s.id}  ${s.name}  enrolled ${s.createdAt}${s.revokedAt ? `  REVOKED ${s.revokedAt}` : ""}${seen}`);
    }
  },
});
