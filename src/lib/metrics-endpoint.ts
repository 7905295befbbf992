// GET /metrics in the Prometheus text format, on an address of its own: off unless asked for, never on the public port.
import type { Registry } from "prom-client";
import { NetworkError } from "./errors.ts";

export interface MetricsEndpoint {
  /** e.g. http://127.0.0.1:9464/metrics */
  url: string;
  stop(): Promise<void>;
}

/** Serves `registry` at GET /metrics on host:port (0 picks a free port); anything else is a 404. */
export function serveMetrics(registry: Registry, host: string, port: number): MetricsEndpoint {
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: host,
      port,
      reusePort: false,
      async fetch(request) {
        const path = new URL(request.url).pathname;
        if (request.method !== "GET" || path !== "/metrics")
          return new Response("only GET /metrics here\n", { status: 404 });
        return new Response(await registry.metrics(), { headers: { "content-type": registry.contentType } });
      },
    });
  } catch (error) {
    const taken = (error as { code?: string }).code === "EADDRINUSE" || /in use/i.test((error as Error).message);
    const why = taken ? "the address is already in use" : (error as Error).message;
    throw new NetworkError(`cannot serve metrics on ${host}:${port}: ${why}`, { cause: error });
  }
  const shown = host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host;
  return {
    url: `http://${shown}:${server.port}/metrics`,
    stop: () => server.stop(true),
  };
}
