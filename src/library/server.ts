// `pkipc/server`: for SaaS backends. The API client (backend.ts) runs anywhere; startServer runs a pkipc server in-process, which needs Bun, and loads it only when called.
import { ConfigError } from "../lib/errors.ts";
import type { RunningServer, StartServerOptions } from "./server-core.ts";

export * from "./backend.ts";
export type { Logger, RunningServer, ServerOptions, StartServerOptions } from "./server-core.ts";
export { createLogger } from "../lib/log.ts";
export { ConfigError } from "../lib/errors.ts";

/**
 * Starts a server the way `pkipc server` does (the same checks: a range browsers can knock, a strong
 * enough code). Enroll services with `server.registry.issueToken(ms)`, make the backend's API key with
 * `server.registry.issueApiKey(name, origin)`; stop it with stop() or the signal.
 * Throws ConfigError with one sentence for a bad option, or when not running on Bun.
 */
export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  // The server is built on Bun.serve and Bun's Redis client; Node and Deno backends run the pkipc binary instead.
  if (!("Bun" in globalThis)) {
    throw new ConfigError(
      "startServer runs a pkipc server in this process, which needs Bun (https://bun.sh); on Node or Deno run the pkipc binary (pkipc server) and talk to it with backendClient",
    );
  }
  const core = await import("./server-core.ts");
  return core.startServer(options);
}
