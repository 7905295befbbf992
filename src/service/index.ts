// The service: hold the range, attribute every knock to its process, group by process, report bursts.
import { findBindFailure } from "../../plugins/bind-failure/index.ts";
import { ApiError, ConfigError, describeError, NetworkError, ServiceStoppedError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { apiClient } from "../protocol/api-client.ts";
import { knockCount } from "../protocol/code.ts";
import type { ServiceConfig } from "../protocol/schemas.ts";
import { createAttributor, createBrowserIdentifier } from "./attribution/index.ts";
import { identifyOnce } from "./attribution/identify-once.ts";
import type { Attributor } from "./attribution/types.ts";
import { type BurstTracker, createBurstTracker } from "./bursts.ts";
import { createInstructionRunner, type HandlerSettings } from "./handlers/index.ts";
import type { InstructionHandler } from "./handlers/types.ts";
import { listenOnRange } from "./listener.ts";
import { type ConfirmLink, DEFAULT_BROWSERS, processAllowed } from "./policy.ts";
import { type RateSpec, rateLimiter } from "../lib/rate-limit.ts";
import type { ServiceCredentials } from "../protocol/signing.ts";
import { watchConfig } from "./config-watch.ts";
import { osEphemeralRange } from "../lib/ephemeral-range.ts";
import { DEFAULT_MAX_PORTS, rangeRefusal, type RangeBounds } from "./range-bounds.ts";
import { knockerCarriesOrigin } from "../protocol/origin-proof.ts";
import { createReporter, type ReportEvent } from "./reporter.ts";
import { requireSecureServer } from "./secure-server.ts";
import { portOutlook } from "./port-outlook.ts";
import { usersToServe } from "./users.ts";

export interface ServiceOptions {
  /** The pkipc server's base URL. */
  server: string | URL;
  /**
   * Ends a start that is still waiting for its server (a service started offline asks again until it answers):
   * startService then throws ServiceStoppedError.
   */
  signal?: AbortSignal;
  /**
   * How long a start waits for a server it cannot reach, in ms; past it, startService throws what the last try
   * met (a NetworkError, or the server's 5xx). Default: until the server answers or `signal` aborts.
   */
  waitForServerMs?: number;
  /** Ports of the range not to bind, to simulate ports held by something else. */
  skip?: readonly number[];
  /** Address to hold the range on. Default 127.0.0.1. */
  host?: string;
  /** Overrides the server's idle gap, in ms. */
  idleMs?: number;
  /** Handlers given in code (the library's typed handlers); each must also be allowed by allowInstructions. */
  handlers?: Record<string, InstructionHandler>;
  /** The built-ins' settings (key folder, info fields), local program handlers, and the handlers' deadline. */
  handlerSettings?: Omit<HandlerSettings, "allow" | "handlers">;
  /** This service's enrollment: every report, pull and ack is signed with it. */
  credentials?: ServiceCredentials;
  /** Process names allowed to link (see processAllowed). Default DEFAULT_BROWSERS. */
  allowProcesses?: readonly string[];
  /** Instruction names this service carries out; anything else is refused and the refusal reported. Default ["log"]. */
  allowInstructions?: readonly string[];
  /**
   * Asked before each link with the origin of the session the knocks fit (the service asks the server
   * for a proposal first); false drops the burst. Default: none (each link is logged).
   */
  confirm?: ConfirmLink;
  /**
   * Users (uids) whose processes may link. Knocks of every other user are dropped before anything
   * about their process is looked up. Default: this service's own uid; required when it runs as root
   * (a root service would otherwise link every user's programs).
   */
  users?: readonly number[];
  /** Web origins whose sessions may link, and "none" for sessions without one. Default: any. */
  allowOrigins?: readonly string[];
  /**
   * Reports one process may cause for each origin its knocks carry. A process that knocks all the time (a
   * flood, a guessing page) would otherwise spend this service's whole report budget at the server and
   * starve honest knocks; per origin, so another tab's noise cannot spend the SaaS page's. Default 0.5/s, bursts of 6.
   */
  reportsPerProcess?: RateSpec;
  attributor?: Attributor;
  /**
   * How often to ask the server whether its configuration (range, code shape, strategy, timing) changed,
   * in ms; a changed one is applied by rebinding. Default 30,000.
   */
  configRefreshMs?: number;
  /**
   * Most ports this service holds: a server's range with more, below 1024 or inside this computer's
   * ephemeral range is refused (at start: an error; later: logged, and the last good range kept). Default 256.
   */
  maxPorts?: number;
  /** This computer's ephemeral port range. Default: read from the OS (osEphemeralRange). */
  ephemeralRange?: RangeBounds["ephemeral"];
  /**
   * How soon a port that could not be bound is tried again, in ms: from `firstMs`, doubling after each
   * attempt that regains nothing, up to `maxMs` (then every maxMs while any is missing). Default 1,000 to 60,000.
   */
  portRetry?: { firstMs: number; maxMs: number };
  /** Called after each report with its outcome. */
  onReport?(event: ReportEvent): void;
  /** Called when the ports held change (regained ones, a new configuration). */
  onPorts?(): void;
}

export interface RunningService {
  /** The server's configuration the service runs with now (it follows changes). */
  readonly config: ServiceConfig;
  readonly held: number[];
  readonly failed: { port: number; reason: string }[];
  /** Reports what is still open, waits briefly for answers, releases every port. */
  stop(): Promise<void>;
}

/** The part of a running service bound to one configuration of the server. */
interface Generation {
  config: ServiceConfig;
  held: number[];
  failed: { port: number; reason: string }[];
  stop(): Promise<void>;
}

/** How long a stopping service waits for bursts being named, then for reports in flight, in ms each. */
const DRAIN_MS = 3_000;

/** Report answers that only a server whose configuration changed would give: check it at once. */
const MISMATCH = new Set(["OUT_OF_RANGE", "WRONG_STRATEGY", "TOO_MANY_PORTS"]);

/** A duration in ms, to a tenth, for a log line. */
const ms = (value: number) => Math.round(value * 10) / 10;

/** Ports as runs: 29170-29180,29185. */
export function portRanges(ports: readonly number[]): string {
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
  requireSecureServer(options.server);
  const users = usersToServe(options.users, process.getuid?.());
  const userAllowed = (uid: number) => users === undefined || users.includes(uid);
  const otherUserLog = rateLimiter({ perSecond: 1 / 60, burst: 3 }, "log lines about other users", { maxKeys: 256 });
  const api = apiClient(options.server, { credentials: options.credentials });
  if (!options.credentials)
    log.warn("this service is not enrolled: a server that requires signatures will refuse its reports");
  const allowProcesses = options.allowProcesses ?? DEFAULT_BROWSERS;
  const perProcess = rateLimiter(
    options.reportsPerProcess ?? { perSecond: 0.5, burst: 6 },
    "reports from this process",
    { maxKeys: 4096 },
  );
  const instructions = createInstructionRunner(
    { ...options.handlerSettings, allow: options.allowInstructions ?? ["log"], handlers: options.handlers },
    log,
  );
  const attributor = options.attributor ?? createAttributor();
  // Every knock warms its process; the burst's report takes the answer the first knock started.
  const identity = identifyOnce(createBrowserIdentifier());
  let watcher: ReturnType<typeof watchConfig> | undefined;
  const bounds: RangeBounds = {
    maxPorts: options.maxPorts ?? DEFAULT_MAX_PORTS,
    ephemeral: options.ephemeralRange ?? osEphemeralRange(),
  };

  /**
   * Everything that depends on the server's configuration: the ports held, the bursts, the reporter.
   * A changed configuration gets a new one; `initial` refuses to start when no port could be bound.
   */
  function bind(config: ServiceConfig, initial: boolean): Generation {
    const refusal = rangeRefusal(config.range, bounds);
    if (refusal) throw new ConfigError(`${refusal}: refusing to bind it`);
    const strategy = findBindFailure(config.bindFailure);
    if (!strategy)
      throw new ConfigError(
        `the server uses bind-failure strategy "${config.bindFailure}", which this service does not know`,
      );
    const knocks = knockCount({ tuples: config.tuples, portsPerTuple: config.portsPerTuple });
    let reporter: ReturnType<typeof createReporter> | undefined;
    /** Bursts being named before they are reported: a stop waits for them, so no seen burst is lost. */
    const identifying = new Set<Promise<void>>();
    // The tracker needs to know which ports could not be bound; knocks reach it only after attribution.
    let bursts: BurstTracker;
    const listener = listenOnRange({
      range: config.range,
      host: options.host,
      skip: options.skip,
      log,
      async onKnock(socket, origin) {
        const accepted = performance.now();
        // The owner is found while the socket is open; the head (its Origin) is read meanwhile.
        const process = await attributor.attribute(socket);
        const attributed = performance.now();
        if (!process) {
          log.debug("knock not attributed", { port: socket.localPort, from: socket.remotePort });
          return;
        }
        if (!userAllowed(process.uid)) {
          // Dropped before anything else is looked up; logged a few times a minute per user at most.
          try {
            otherUserLog.take(String(process.uid));
            log.info("knock dropped: the process belongs to a user this service does not serve", {
              uid: process.uid,
              user: process.user,
              pid: process.pid,
            });
          } catch {
            // already logged for this user lately
          }
          return;
        }
        // Identity work (walking up to the browser, reading versions) starts only for allowed processes.
        if (processAllowed(process, allowProcesses)) identity.warm(process);
        // Its head is usually in by now; a socket a browser opened ahead gets it when the page's fetch comes
        // (the listener bounds the wait, and closes silent sockets first when the open ones reach the cap).
        const knockOrigin = await origin;
        // Where a knock's time went (bench/browser.ts reads these): finding its owner, then waiting for its head.
        log.debug("knock", {
          port: socket.localPort,
          pid: process.pid,
          origin: knockOrigin ?? "none",
          attributeMs: ms(attributed - accepted),
          originMs: ms(performance.now() - attributed),
        });
        bursts.add(process, socket.localPort, knockOrigin);
      },
    });
    bursts = createBurstTracker({
      knocks,
      idleMs: options.idleMs ?? config.idleMs,
      minPorts: knocks - config.maxMissing,
      // with every port held, a burst short of a whole code is still arriving: let it linger
      missable: listener.failed.length,
      onBurst(burst) {
        const who = {
          pid: burst.process.pid,
          process: burst.process.name,
          exe: burst.process.exe,
          knockOrigin: burst.origin ?? "none",
        };
        log.debug("burst", { ...who, ports: burst.ports.length, reason: burst.reason });
        try {
          // Per process and origin: another tab's noise spends its own budget, never this page's.
          perProcess.take(`${burst.process.pid} ${burst.origin ?? ""}`);
        } catch {
          log.debug("knocks ignored: the process knocks too often", who);
          options.onReport?.({ burst, error: "the process knocks too often; burst dropped", acks: [] });
          return;
        }
        if (!processAllowed(burst.process, allowProcesses)) {
          log.info("knocks ignored: the process is not an allowed browser", who);
          options.onReport?.({
            burst,
            error: `process "${burst.process.name}" may not link (not on the allow-list)`,
            acks: [],
          });
          return;
        }
        // Knocks of a program that sends its page's origin with every knock that can prove one, but that
        // carried none (a no-cors GET, a TLS knock, another tab's noise), can link no session: not reported.
        if (burst.origin === undefined && knockerCarriesOrigin(burst.process)) {
          log.info("knocks not reported: they carried no Origin, so they prove no page's origin", who);
          const error = `not reported: the knocks carried no Origin (${burst.process.name} sends its page's origin with every knock that can prove it)`;
          options.onReport?.({ burst, error, acks: [] });
          return;
        }
        // Name the browser behind the burst (its main process, name, version), then report it.
        const naming: Promise<void> = identity
          .identify(burst.process)
          .then((process) => reporter?.submit({ ...burst, process }))
          .catch((error) => options.onReport?.({ burst, error: `not reported: ${(error as Error).message}`, acks: [] }))
          .finally(() => naming && identifying.delete(naming));
        identifying.add(naming);
      },
    });
    // The reporter reads this list at each claim: ports regained later leave it in place.
    const failedPorts = listener.failed.map((f) => f.port);
    reporter = createReporter({
      api,
      strategy,
      limits: {
        knocks,
        maxMissing: config.maxMissing,
        maxFailed: config.maxFailed,
        maxCompletions: config.maxCompletions,
      },
      failed: failedPorts,
      instructions,
      log,
      giveUpMs: config.ttlMs,
      allowOrigins: options.allowOrigins,
      confirm: options.confirm,
      onReport(event) {
        // Answers only a server with another range, shape or strategy gives: look at its configuration now.
        if (event.answer?.code && MISMATCH.has(event.answer.code))
          void watcher?.check(`a report was answered ${event.answer.code}`);
        options.onReport?.(event);
      },
    });

    // Nothing held: one sentence saying why, not the lists of a partial bind first.
    if (listener.held.length === 0) {
      const range = `${config.range.start}-${config.range.end}`;
      const skipped = listener.failed.every((f) => f.reason === "skipped");
      const message = skipped
        ? `--skip leaves no port of ${range} to bind`
        : `could not bind any port of ${range} (${listener.failed[0]?.reason ?? "no port"}); is another pkipc service running?`;
      if (initial) {
        listener.stop();
        throw new ConfigError(message);
      }
      log.error(`${message}; trying again at the next configuration check`);
    } else {
      log.info(
        `holding ${listener.held.length} of ${listener.held.length + listener.failed.length} ports on ${options.host ?? "127.0.0.1"}`,
        {
          ports: portRanges(listener.held),
          server: api.url,
          service: options.credentials?.serviceId ?? "not enrolled",
          strategy: strategy.name,
          instructions: instructions.allowed.join(",") || "none",
          origins: options.allowOrigins?.join(",") ?? "any",
        },
      );
      if (listener.failed.length) {
        // Said as the server will decide it: with too many failed ports no report can link, whatever is knocked.
        const outlook = portOutlook(config, listener.failed.length);
        log.warn(outlook.sentence, { failed: listener.failed.map((f) => `${f.port}(${f.reason})`).join(",") });
      }
    }

    // Ports taken by someone else are tried again, with backoff, and bound once they are free.
    const retry = options.portRetry ?? { firstMs: 1000, maxMs: 60_000 };
    let retryDelay = retry.firstMs;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    const scheduleRetry = () => {
      if (!listener.failed.some((f) => f.reason !== "skipped")) return;
      retryTimer = setTimeout(() => {
        const regained = listener.retry();
        if (regained.length) {
          for (const port of regained) failedPorts.splice(failedPorts.indexOf(port), 1);
          log.info(
            `bound ${regained.length} ports freed since start: holding ${listener.held.length} of ${listener.held.length + listener.failed.length}`,
            {
              regained: portRanges(regained),
            },
          );
          const outlook = portOutlook(config, listener.failed.length);
          (listener.failed.length ? log.warn : log.info)(outlook.sentence);
          retryDelay = retry.firstMs;
          options.onPorts?.();
        } else retryDelay = Math.min(retryDelay * 2, retry.maxMs);
        scheduleRetry();
      }, retryDelay);
      retryTimer.unref?.();
    };
    scheduleRetry();

    return {
      config,
      held: listener.held,
      failed: listener.failed,
      async stop() {
        clearTimeout(retryTimer);
        listener.stop();
        // A stop (SIGTERM) must not lose what was seen: report the open bursts, let their naming finish
        // (bounded), then let the reporter drain its reports (bounded too) before anything is aborted.
        bursts.flushAll();
        await Promise.race([Promise.allSettled([...identifying]), Bun.sleep(DRAIN_MS)]);
        await reporter!.stop(DRAIN_MS);
      },
    };
  }

  /**
   * The server's configuration at start. A server that cannot be reached (a laptop logging in offline, the server
   * restarting) is asked again, 1 s doubling to 60 s, said once at warn, until it answers or the start is stopped;
   * a server that answers with a refusal is said at once.
   */
  async function firstConfig(): Promise<ServiceConfig> {
    const giveUpAt = Date.now() + (options.waitForServerMs ?? Number.POSITIVE_INFINITY);
    for (let attempt = 0; ; attempt++) {
      try {
        return await api.config();
      } catch (error) {
        const away = error instanceof NetworkError || (error instanceof ApiError && error.status >= 500);
        if (!away || Date.now() >= giveUpAt) throw error;
        if (attempt === 0)
          log.warn(
            `the server does not answer yet (${describeError(error)}): waiting for it, asking again with a growing pause (up to 60 s)`,
          );
        const wait = Math.min(1000 * 2 ** attempt, 60_000, Math.max(0, giveUpAt - Date.now()));
        const stopped = await pause(wait, options.signal);
        if (stopped) throw new ServiceStoppedError("stopped while waiting for the server to answer");
      }
    }
  }
  let current = bind(await firstConfig(), true);
  let stopping: Promise<void>[] = [];
  watcher = watchConfig({
    fetch: () => api.config(),
    current: () => current.config,
    refuse: (next) => rangeRefusal(next.range, bounds),
    stale: () => current.held.length === 0,
    async apply(next) {
      // Release the old ports first: the new range may overlap them. What the old reporter still has in
      // flight finishes in the background (bounded by its own grace time).
      const old = current;
      stopping.push(old.stop());
      current = bind(next, false);
      options.onPorts?.();
    },
    intervalMs: options.configRefreshMs ?? 30_000,
    log,
  });

  return {
    get config() {
      return current.config;
    },
    get held() {
      return current.held;
    },
    get failed() {
      return current.failed;
    },
    async stop() {
      await watcher?.stop();
      await Promise.all([current.stop(), ...stopping]);
      stopping = [];
    },
  };
}

/** Waits `ms`, or less when `signal` aborts; true when it did. */
function pause(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (stopped: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve(stopped);
    };
    const onAbort = () => done(true);
    const timer = setTimeout(() => done(false), ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
