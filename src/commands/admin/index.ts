// `pkipc admin ACTION`: the operator's side of enrollment and API keys, against a running server.
import { defineCommand } from "citty";
import { toCittyArgs } from "../../lib/options.ts";
import { adminOptions } from "./options.ts";

export default defineCommand({
  meta: {
    name: "admin",
    description: "Operator: enroll services and issue API keys on a running server (needs its admin secret)",
  },
  args: toCittyArgs(adminOptions),
  subCommands: {
    token: () => import("./token.ts").then((m) => m.default),
    services: () => import("./services.ts").then((m) => m.default),
    revoke: () => import("./revoke.ts").then((m) => m.default),
    "api-key": () => import("./api-key.ts").then((m) => m.default),
    "api-keys": () => import("./api-keys.ts").then((m) => m.default),
    "revoke-api-key": () => import("./revoke-api-key.ts").then((m) => m.default),
    "acknowledge-data-loss": () => import("./acknowledge-data-loss.ts").then((m) => m.default),
  },
});
