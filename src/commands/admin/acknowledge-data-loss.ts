// `pkipc admin acknowledge-data-loss`: the operator has seen that the shared store lost its data.
import { defineCommand } from "citty";
import { toCittyArgs } from "../../lib/options.ts";
import { adminCall, adminOptions } from "./options.ts";

export default defineCommand({
  meta: {
    name: "acknowledge-data-loss",
    description: "Clear the data-loss flag of a shared store, so /healthz answers 200 again",
  },
  args: toCittyArgs(adminOptions),
  async run({ args, rawArgs, data }) {
    const { api, print } = adminCall({}, args, rawArgs, data);
    const { acknowledged } = await api.admin.acknowledgeDataLoss();
    print(acknowledged ? "acknowledged: /healthz answers 200 again on every instance" : "no data loss was flagged");
  },
});
