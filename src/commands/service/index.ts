// `pkipc service`: hold the port range on this machine and report knocks to the server until stopped.
import { defineCommand } from "citty";
import { join, resolve } from "node:path";
import type { CommandEnv } from "../env.ts";
import { ConfigError, describeError, ServiceStoppedError } from "../../lib/errors.ts";
import { resolveOptions, toCittyArgs } from "../../lib/options.ts";
import { serveMetrics } from "../../lib/metrics-endpoint.ts";
import { apiClient } from "../../protocol/api-client.ts";
import { terminalConfirm } from "../../service/confirm-tty.ts";
import { desktopConfirm, dialogsFor } from "../../service/consent/index.ts";
import { type RunningService, portRanges, startService } from "../../service/index.ts";
import { createAuditLog } from "../../service/audit.ts";
import { removeServiceState, type ServiceState, statePath, writeServiceState } from "../../service/state-file.ts";
import { createAttributor } from "../../service/attribution/index.ts";
import { serviceMetrics } from "../../service/metrics.ts";
import { cachedReach, rememberedCount, statusSentence } from "../../service/status-facts.ts";
import { checkKeyFileTarget, writeKeyFile } from "../../service/key-file.ts";
import { mergePrograms } from "../../service/handlers/program-config.ts";
import { planService, serviceOptions } from "./options.ts";

export default defineCommand({
  meta: {
    name: "service",
    description: "Hold the knock range, report knocks to the server; install | uninstall | status: start at login",
  },
  args: toCittyArgs(serviceOptions),
  subCommands: {
    install: () => import("./install.ts").then((m) => m.default),
    uninstall: () => import("./uninstall.ts").then((m) => m.default),
    status: () => import("./status.ts").then((m) => m.default),
    origins: () => import("./origins.ts").then((m) => m.default),
  },
  async run({ args, rawArgs, data }) {
    const { env, log, waitForSignal } = data as CommandEnv;
    const stray = (args as { _?: string[] })._ ?? [];
    if (stray.length)
      throw new ConfigError(
        `unexpected argument "${stray[0]}"; install, uninstall, status and origins come right after "service" (pkipc service install [options])`,
      );
    const o = resolveOptions(serviceOptions, args, rawArgs, env);
    const stopped = waitForSignal(); // listen for the signal first: a stop that comes during start-up is not lost
    if (o.askFor && o.confirm !== "desktop")
      throw new ConfigError("--ask-for needs --confirm desktop (it names instructions the desktop asks about)");
    const plan = planService(o, env);
    const { server, keyFile, stateDir } = plan;
    let credentials = plan.credentials;
    if (o.enroll) {
      checkKeyFileTarget(keyFile); // before the token is spent: a key that cannot be written would be lost
      try {
        credentials = await apiClient(server).enroll(o.enroll, o.name);
      } catch (error) {
        throw new ConfigError(`enrollment with ${server.origin} failed: ${describeError(error)}`, { cause: error });
      }
      writeKeyFile(keyFile, credentials, server.href);
      log.info(`enrolled as ${credentials.serviceId}; key written to ${keyFile}`);
    }
    const serviceLog = log.child({ role: "service" });
    const metrics = o.metricsListen ? serviceMetrics() : undefined;
    const endpoint =
      metrics && o.metricsListen
        ? serveMetrics(metrics.registry, o.metricsListen.host, o.metricsListen.port)
        : undefined;
    if (endpoint) serviceLog.info(`metrics on ${endpoint.url}`);
    const audit = createAuditLog(join(stateDir, "audit.jsonl"), serviceLog);
    const stateFile = statePath(stateDir);
    const startedAt = new Date().toISOString();
    let lastLink: ServiceState["lastLink"];
    let running: RunningService | undefined;
    /** What `pkipc service status` reads and the metrics show; rewritten when the ports or the last link change. */
    const currentState = (): ServiceState | undefined =>
      running && {
        pid: process.pid,
        exe: process.execPath,
        startedAt,
        server: server.href,
        serviceId: credentials?.serviceId,
        keyFile,
        host: o.host,
        range: `${running.config.range.start}-${running.config.range.end}`,
        held: running.held.length,
        heldPorts: portRanges(running.held),
        missing: running.failed,
        allowOrigins: o.allowOrigins ?? "any",
        instructions: o.allowInstructions,
        lastLink,
      };
    const saveState = () => {
      const state = currentState();
      if (!state) return;
      try {
        writeServiceState(stateFile, state);
      } catch (error) {
        serviceLog.warn(`could not write ${stateFile}: ${(error as Error).message}`);
      }
    };
    // A stop that comes while the start waits for its server ends the wait (see startService's signal).
    const stopping = new AbortController();
    let stopSignal: string | undefined;
    void stopped.then((signal) => {
      stopSignal = signal ?? undefined;
      stopping.abort();
    });
    try {
      running = await startService(
        {
          server,
          signal: stopping.signal,
          skip: o.skip,
          host: o.host,
          idleMs: o.idle,
          credentials,
          allowProcesses: o.allowProcesses,
          allowInstructions: o.allowInstructions,
          reportsPerProcess: o.processReportRate,
          configRefreshMs: o.configRefresh,
          maxPorts: o.maxPorts,
          handlerSettings: {
            programs: mergePrograms(o.handler ?? {}, o.handlersFile ?? {}),
            programEnv: { PATH: env.PATH, HOME: env.HOME, LANG: env.LANG },
            timeoutMs: o.handlerTimeout,
            keyDir: plan.keyDir ? resolve(plan.keyDir) : undefined,
            infoFields: o.infoFields,
            audit,
          },
          users: o.users,
          allowOrigins: o.allowOrigins,
          confirm:
            o.confirm === "ask"
              ? terminalConfirm(process.stdin, process.stderr, server.origin)
              : o.confirm === "desktop"
                ? desktopConfirm({
                    dialogs: dialogsFor(process.platform),
                    stateDir,
                    askFor: o.askFor,
                    timeoutMs: o.consentTimeout,
                    log: serviceLog,
                  })
                : undefined,
          ...(metrics ? { attributor: metrics.attributor(createAttributor()) } : {}),
          onReport(event) {
            metrics?.onReport(event);
            if (event.answer?.linked) {
              lastLink = {
                at: new Date().toISOString(),
                origin: event.origin ?? "none",
                process: event.burst.process.name,
                pid: event.burst.process.pid,
              };
              saveState();
            }
          },
          onPorts: saveState,
        },
        serviceLog,
      );
    } catch (error) {
      if (!(error instanceof ServiceStoppedError)) throw error;
      await endpoint?.stop();
      serviceLog.info(`stopped${stopSignal ? ` on ${stopSignal}` : ""} before the server answered`);
      return;
    }
    saveState();
    const reach = cachedReach(server);
    const remembered = o.confirm === "desktop" ? () => rememberedCount(stateDir) : undefined;
    metrics?.status({ state: currentState, reach, ...(remembered ? { remembered } : {}) });
    serviceLog.info(`started as PID ${process.pid}`, { key: keyFile, state: stateFile, audit: audit.path });
    serviceLog.info(`status: ${statusSentence(currentState()!, await reach(), remembered?.())}`);
    const signal = await stopped;
    await running.stop();
    await endpoint?.stop();
    removeServiceState(stateFile, process.pid);
    serviceLog.info(`stopped${signal ? ` on ${signal}` : ""}`);
  },
});
