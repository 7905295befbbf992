// What every role's /metrics carries besides its own counters: pkipc_build_info and the process's default metrics (CPU, memory, descriptors, event loop, heap).
import { collectDefaultMetrics, Gauge, type Registry } from "prom-client";
import { VERSION } from "../version.ts";

/**
 * Adds `pkipc_build_info{version, role, runtime} 1` (the usual info-metric shape: join on it to label
 * other series with the version) and prom-client's default process metrics to `registry`.
 */
export function addProcessMetrics(registry: Registry, role: "server" | "service"): void {
  const runtime =
    typeof process.versions.bun === "string" ? `bun ${process.versions.bun}` : `node ${process.versions.node}`;
  new Gauge({
    name: "pkipc_build_info",
    help: "The running pkipc: its version, role and runtime (always 1)",
    labelNames: ["version", "role", "runtime"],
    registers: [registry],
  }).set({ version: VERSION, role, runtime }, 1);
  collectDefaultMetrics({ register: registry });
}
