// The service's metrics (prom-client): knocks and their attribution time, reports by answer, and its status (the
// facts `service status` prints); a decorator of the attributor, a report listener and gauges read at each scrape,
// so the service itself is unchanged and counts nothing unless asked.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { addProcessMetrics } from "../lib/process-metrics.ts";
import type { Attributor } from "./attribution/types.ts";
import type { ReportEvent } from "./reporter.ts";
import type { ServiceState } from "./state-file.ts";
import type { ServerReach } from "./status-facts.ts";

/** Where the status gauges read their facts at each scrape. */
export interface StatusSource {
  /** The facts service.json holds; undefined before the service holds its ports. */
  state(): ServiceState | undefined;
  /** Whether the server answers (the caller bounds and caches it: see cachedReach). */
  reach(): Promise<ServerReach>;
  /** How many origins the desktop's user allowed always (--confirm desktop); undefined otherwise. */
  remembered?(): number | undefined;
}

export interface ServiceMetrics {
  registry: Registry;
  /** Wraps the attributor: every knock, attributed or not, and how long finding its process took. */
  attributor(inner: Attributor): Attributor;
  /** Counts a report's outcome: linked, the server's reason for not linking, or why it was not sent. */
  onReport(event: ReportEvent): void;
  /** Adds the status gauges (since, server and whether it answers, ports held and missing, origins, last link). */
  status(source: StatusSource): void;
}

export function serviceMetrics(): ServiceMetrics {
  const registry = new Registry();
  addProcessMetrics(registry, "service");
  const registers = [registry];
  const knocks = new Counter({
    name: "pkipc_service_knocks_total",
    help: "Knocks accepted on the range, by whether their process was found",
    labelNames: ["attributed"],
    registers,
  });
  const attribution = new Histogram({
    name: "pkipc_service_attribution_seconds",
    help: "Time to find the process behind one knock",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers,
  });
  const reports = new Counter({
    name: "pkipc_service_reports_total",
    help: "Bursts handled, by answer: linked, the server's code for not linking, or not_sent (dropped or failed here)",
    labelNames: ["answer"],
    registers,
  });
  return {
    registry,
    attributor: (inner) => ({
      name: inner.name,
      async attribute(socket) {
        const start = performance.now();
        const process = await inner.attribute(socket);
        attribution.observe((performance.now() - start) / 1000);
        knocks.inc({ attributed: process ? "yes" : "no" });
        return process;
      },
    }),
    onReport(event) {
      reports.inc({ answer: event.answer ? (event.answer.linked ? "linked" : event.answer.code) : "not_sent" });
    },
    status(source) {
      /** A gauge set from the status at each scrape by `read`; empty until the service holds its ports. */
      const gauge = (
        name: string,
        help: string,
        labelNames: string[],
        read: (g: Gauge, state: ServiceState) => void | Promise<void>,
      ) =>
        new Gauge({
          name,
          help,
          labelNames,
          registers,
          async collect() {
            this.reset();
            const state = source.state();
            if (state) await read(this, state);
          },
        });
      gauge(
        "pkipc_service_info",
        "The server this service reports to and its enrollment (always 1)",
        ["server", "service_id", "origins"],
        (g, s) =>
          g.set(
            {
              server: s.server,
              service_id: s.serviceId ?? "not enrolled",
              origins: s.allowOrigins === "any" ? "any" : "listed",
            },
            1,
          ),
      );
      gauge(
        "pkipc_service_start_time_seconds",
        "When this service started holding its ports, in Unix seconds",
        [],
        (g, s) => g.set(Date.parse(s.startedAt) / 1000),
      );
      gauge(
        "pkipc_service_server_up",
        "Whether the server answered its config request within 3 s (1) or not (0), checked at most every 5 s",
        [],
        async (g) => g.set((await source.reach()).answers ? 1 : 0),
      );
      gauge("pkipc_service_ports_held", "Ports of the server's range this service holds", [], (g, s) => g.set(s.held));
      gauge(
        "pkipc_service_ports_missing",
        "Ports of the range this service could not bind (taken by another program, or skipped)",
        [],
        (g, s) => g.set(s.missing.length),
      );
      gauge(
        "pkipc_service_allowed_origins",
        'Origins allowed to link, by source: "allow-origins" (listed at start; 0 when any origin may, see pkipc_service_info) and, with --confirm desktop, "remembered" (always allowed by the user)',
        ["source"],
        (g, s) => {
          g.set({ source: "allow-origins" }, s.allowOrigins === "any" ? 0 : s.allowOrigins.length);
          const remembered = source.remembered?.();
          if (remembered !== undefined) g.set({ source: "remembered" }, remembered);
        },
      );
      gauge(
        "pkipc_service_last_link_timestamp_seconds",
        "When the last link since start was made, in Unix seconds, with its origin and process (no series before the first)",
        ["origin", "process"],
        (g, s) => {
          if (s.lastLink)
            g.set({ origin: s.lastLink.origin, process: s.lastLink.process }, Date.parse(s.lastLink.at) / 1000);
        },
      );
    },
  };
}
