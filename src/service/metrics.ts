// The service's metrics (prom-client): knocks and their attribution time, reports by answer; a decorator of the
// attributor and a report listener, so the service itself is unchanged and counts nothing unless asked.
import { Counter, Histogram, Registry } from "prom-client";
import { addProcessMetrics } from "../lib/process-metrics.ts";
import type { Attributor } from "./attribution/types.ts";
import type { ReportEvent } from "./reporter.ts";

export interface ServiceMetrics {
  registry: Registry;
  /** Wraps the attributor: every knock, attributed or not, and how long finding its process took. */
  attributor(inner: Attributor): Attributor;
  /** Counts a report's outcome: linked, the server's reason for not linking, or why it was not sent. */
  onReport(event: ReportEvent): void;
}

export function serviceMetrics(): ServiceMetrics {
  const registry = new Registry();
  addProcessMetrics(registry, "service");
  const registers = [registry];
  const knocks = new Counter({ name: "pkipc_service_knocks_total", help: "Knocks accepted on the range, by whether their process was found", labelNames: ["attributed"], registers });
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
  };
}
