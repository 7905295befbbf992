// The service: hold the range, attribute every knock to its process, group by process, report bursts.
import { findBindFailure } from "../../plugins/bind-failure/index.ts";
import { ConfigError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { apiClient } from "../protocol/api-client.ts";
import { knockCount } from "../protocol/code.ts";
import type { ServiceConfig } from "../protocol/schemas.ts";
import { createAttributor } from "./attribution/index.ts";
import type { Attributor } from "./attribution/types.ts";
import { createBurstTracker } from "./bursts.ts";
import { builtinHandlers, type InstructionHandler } from "./handlers.ts";
import { browserIdentifier } from "./identity.ts";
import { listenOnRange } from "./listener.ts";
import { createReporter, type ReportEvent } from "./reporter.ts";

export interface ServiceOptions {
  /** The pkipc server's base URL. */
  server: string | URL;
  /** Ports of the range not to bind, to simulate ports held by something else. */
  skip?: readonly number[];
  /** Address to hold the range on. Default 127.0.0.1. */
  host?: string;
  /** Overrides the server's idle gap, in ms. */
  idleMs?: number;
  handlers?: Record<string, InstructionHandler>;
  attributor?: Attributor;
  /** Called after each report with its outcome. */
  onReport?(event: ReportEvent): void;
}

export interface RunningService {
  config: ServiceConfig;
  held: number[];
  failed: { port: number; reason: string }[];
  /** Reports what is still open, waits briefly for answers, releases every port. */
  stop(): Promise<void>;
}

function ranges(ports: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < ports.length; ) {
    let j = i;
    while (j + 1 < ports.length && ports[j + 1] === ports[j]! + 1) j++;
    parts.push(i === j ? `${ports[i]}` : `${ports[i]}-${ports[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/** Starts a service against a server: fetches its config, binds the range, reports until stopped. */
export async function startService(options: ServiceOptions, log: Logger): Promise<RunningService> {
  const api = apiClient(options.server);
  const config = await api.config();
  const strategy = findBindFailure(config.bindFailure);
  if (!strategy) throw new ConfigError(`the server uses bind-failure strategy "${config.bindFailure}", which this service does not know`);
  const attributor = options.attributor ?? createAttributor();
  const knocks = knockCount({ tuples: config.tuples, portsPerTuple: config.portsPerTuple });

  let reporter: ReturnType<typeof createReporter> | undefined;
  const identity = browserIdentifier();
  const bursts = createBurstTracker({
    knocks,
    idleMs: options.idleMs ?? config.idleMs,
    minPorts: knocks - config.maxMissing,
    // Name the browser behind the burst (its main process, name, version) before reporting it.
    onBurst: (burst) => void identity.identify(burst.process).then((process) => reporter?.submit({ ...burst, process })),
  });
  const listener = listenOnRange({
    range: config.range,
    host: options.host,
    skip: options.skip,
    log,
    async onKnock(socket) {
      const process = await attributor.attribute(socket);
      if (process) {
        identity.warm(process);
        bursts.add(process, socket.localPort);
      }
      else log.debug("knock not attributed", { port: socket.localPort, from: socket.remotePort });
    },
  });
  const failedPorts = listener.failed.map((f) => f.port);
  reporter = createReporter({
    api,
    strategy,
    limits: { knocks, maxMissing: config.maxMissing, maxFailed: config.maxFailed, maxCompletions: config.maxCompletions },
    failed: failedPorts,
    handlers: options.handlers ?? builtinHandlers,
    log,
    giveUpMs: config.ttlMs,
    onReport: options.onReport,
  });

  log.info(`holding ${listener.held.length} of ${listener.held.length + listener.failed.length} ports on ${options.host ?? "127.0.0.1"}`, {
    ports: ranges(listener.held),
    server: api.url,
    strategy: strategy.name,
  });
  if (listener.failed.length) {
    log.warn(`could not bind ${listener.failed.length} ports; knocks on them are matched by ${strategy.name}`, {
      failed: listener.failed.map((f) => `${f.port}(${f.reason})`).join(","),
    });
  }
  if (listener.held.length === 0) {
    listener.stop();
    throw new ConfigError(`could not bind any port of ${config.range.start}-${config.range.end}; is another service running?`);
  }

  return {
    config,
    held: listener.held,
    failed: listener.failed,
    async stop() {
      listener.stop();
      bursts.flushAll();
      await reporter!.stop();
    },
  };
}
