// The server role as a library (Bun only: Bun.serve, Bun's Redis client), loaded by `pkipc/server`'s startServer when it is called.
import { silentLogger, type Logger } from "../lib/log.ts";
import { serverConfig, serverOptions } from "../commands/server.ts";
import { type RunningServer, startServer as startCoreServer } from "../server/index.ts";

export type { Logger, RunningServer };

type Options = typeof serverOptions;
/**
 * The options of `pkipc server`, camelCased, each as its flag's text (`listen: "127.0.0.1:0"`,
 * `range: "29170-29233"`, `ttl: "30s"`), or true for a switch; defaults as the CLI documents them.
 */
export type ServerOptions = {
  [K in keyof Options]?: Options[K] extends { flag: true } ? boolean : string;
};

export interface StartServerOptions extends ServerOptions {
  /** Where the server's log lines go. Default: nowhere. */
  log?: Logger;
  /** Stops the server when aborted. */
  signal?: AbortSignal;
}

/**
 * Starts a server the way `pkipc server` does (the same checks: a range browsers can knock, a strong
 * enough code). Enroll services with `server.registry.issueToken(ms)`, make the backend's API key with
 * `server.registry.issueApiKey(name, origin)`; stop it with stop() or the signal.
 * Throws ConfigError with one sentence for a bad option.
 */
export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const { log, signal, ...flags } = options;
  const args = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined && v !== false));
  const { config } = serverConfig(args, [], {});
  const server = await startCoreServer(config, log ?? silentLogger);
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= server.stop());
  signal?.addEventListener("abort", () => void stop(), { once: true });
  if (signal?.aborted) await stop();
  return { ...server, stop };
}
