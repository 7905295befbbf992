// `pkipc`: the root of the one command tree; each subcommand's module loads only when its name is given.
import { defineCommand } from "citty";
import { VERSION } from "../version.ts";

export default defineCommand({
  meta: {
    name: "pkipc",
    version: VERSION,
    description: "Deliver a key from a web server to a local service through a browser, by port knocking on loopback",
  },
  // Lazy: `pkipc client` never evaluates the server (Elysia, Redis) or the service's modules.
  subCommands: {
    server: () => import("./server.ts").then((m) => m.default),
    service: () => import("./service/index.ts").then((m) => m.default),
    client: () => import("./client.ts").then((m) => m.default),
    demo: () => import("./demo.ts").then((m) => m.default),
    admin: () => import("./admin/index.ts").then((m) => m.default),
  },
});
