// `pkipc/service`: the service role as a library, for integrators who write their local agent in TypeScript on Bun.
import { writeKeyFile, readKeyFile } from "../service/key-file.ts";
import { describeError, ConfigError } from "../lib/errors.ts";
import { silentLogger, type Logger } from "../lib/log.ts";
import { apiClient } from "../protocol/api-client.ts";
import type { ServiceCredentials } from "../protocol/signing.ts";
import { functionHandler, type FunctionHandlerContext, type HandlerFunction } from "../service/handlers/function.ts";
import type { HandlerSettings } from "../service/handlers/index.ts";
import type { HandlerAnswer, InstructionHandler } from "../service/handlers/types.ts";
import { type RunningService, type ServiceOptions, startService as startCoreService } from "../service/index.ts";

export type { FunctionHandlerContext, HandlerAnswer, HandlerFunction, Logger, RunningService, ServiceCredentials };
export { DEFAULT_BROWSERS } from "../service/policy.ts";
export { DEFAULT_INFO_FIELDS, INFO_FIELDS, type InfoField } from "../service/handlers/info.ts";
/** The folder name under keyDir where the `key` built-in stores an origin's keys: a local app reads keyDir/originFolder(origin)/name. */
export { originFolder } from "../service/handlers/key.ts";
export { createLogger } from "../lib/log.ts";
export { PkipcError, ConfigError, NetworkError, ServiceStoppedError } from "../lib/errors.ts";

export interface StartServiceOptions {
  /** The pkipc server's base URL (https for anything but loopback). */
  server: string | URL;
  /** This service's key file (written by enrollment, mode 0600). Give this or `credentials`. */
  keyFile?: string;
  /** This service's id and key, when the integrator keeps them elsewhere. */
  credentials?: ServiceCredentials;
  /** Spend this one-time enrollment token first and write the key to `keyFile`. */
  enrollToken?: string;
  /** The name to enroll under. Default "pkipc service". */
  name?: string;
  /**
   * Typed handlers by instruction name (lowercase letters, digits and -): each is allowed by being given.
   * Example: `{ "key-store": async (args, context) => ({ ok: true, result: "stored" }) }`.
   */
  handlers?: Record<string, HandlerFunction>;
  /** Built-ins to allow as well: "log", "key" (needs keyDir), "info". Default none. */
  allowInstructions?: readonly string[];
  /** Settings of the built-ins and local program handlers (keyDir, infoFields, programs, timeoutMs). */
  handlerSettings?: Omit<HandlerSettings, "allow" | "handlers">;
  /** Process names allowed to link. Default: browsers (DEFAULT_BROWSERS). */
  allowProcesses?: readonly string[];
  /** Uids whose programs may link. Default: the user running the service (as root it must be given). */
  users?: readonly number[];
  /** Web origins whose sessions may link ("none": sessions without one). Default: any. */
  allowOrigins?: readonly string[];
  /** Most ports to hold: a server's range with more, below 1024 or in the OS's ephemeral range is refused. Default 256. */
  maxPorts?: number;
  /** Loopback address to hold the port range on. Default 127.0.0.1. */
  host?: string;
  /** Where the service's log lines go. Default: nowhere. */
  log?: Logger;
  /** Stops the service when aborted, also while it still waits for its server (startService then throws ServiceStoppedError). */
  signal?: AbortSignal;
  /**
   * How long startService waits for a server it cannot reach, in ms, asking again 1 s doubling to 60 s; then it
   * throws what the last try met. Default 0: it throws NetworkError at once, as 0.3 did. An agent started at
   * login, perhaps offline, gives a long wait (Infinity: until the server answers or `signal` aborts).
   */
  waitForServerMs?: number;
  /** Called after each report with its outcome. */
  onReport?: ServiceOptions["onReport"];
}

export interface LibraryService extends RunningService {
  /** Resolves once the service has stopped (by stop() or the signal). */
  readonly stopped: Promise<void>;
}

/**
 * Enrolls (if asked), then starts a service: holds the port range, attributes knocks, reports them,
 * and carries out the allowed instructions. Throws ConfigError (with one sentence) for a bad
 * configuration and NetworkError when the server cannot be reached (within `waitForServerMs`).
 */
export async function startService(options: StartServiceOptions): Promise<LibraryService> {
  const log = options.log ?? silentLogger;
  let credentials = options.credentials;
  if (options.enrollToken) {
    if (!options.keyFile) throw new ConfigError("enrolling needs a keyFile to write the service's key to");
    try {
      credentials = await apiClient(options.server).enroll(
        options.enrollToken,
        options.name ?? "pkipc service",
        options.signal,
      );
    } catch (error) {
      throw new ConfigError(`enrollment with ${String(options.server)} failed: ${describeError(error)}`, {
        cause: error,
      });
    }
    writeKeyFile(options.keyFile, credentials, String(options.server));
  }
  if (!credentials && options.keyFile) credentials = readKeyFile(options.keyFile);
  if (!credentials) throw new ConfigError("a service needs its key: give keyFile, credentials or enrollToken");
  const handlers: Record<string, InstructionHandler> = {};
  for (const [name, fn] of Object.entries(options.handlers ?? {})) {
    if (typeof fn !== "function") throw new ConfigError(`handler "${name}" is not a function`);
    handlers[name] = functionHandler(name, fn);
  }
  if (options.signal?.aborted) throw new ConfigError("the service was stopped before it started");
  const service = await startCoreService(
    {
      server: options.server,
      credentials,
      host: options.host,
      ...(options.maxPorts ? { maxPorts: options.maxPorts } : {}),
      handlers,
      allowInstructions: [...(options.allowInstructions ?? []), ...Object.keys(handlers)],
      handlerSettings: options.handlerSettings,
      ...(options.allowProcesses ? { allowProcesses: options.allowProcesses } : {}),
      ...(options.users ? { users: options.users } : {}),
      ...(options.allowOrigins ? { allowOrigins: options.allowOrigins } : {}),
      onReport: options.onReport,
      waitForServerMs: options.waitForServerMs ?? 0,
      ...(options.signal ? { signal: options.signal } : {}),
    },
    log,
  );
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= service.stop());
  let resolveStopped = () => {};
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  const onAbort = () => void stop().then(resolveStopped);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) onAbort(); // aborted while it started
  return {
    ...service,
    stopped,
    async stop() {
      options.signal?.removeEventListener("abort", onAbort);
      await stop();
      resolveStopped();
    },
  };
}
