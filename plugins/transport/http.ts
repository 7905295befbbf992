// http: a fetch of http://HOST:PORT/, as a web page knocks (with its Origin, as a cors fetch); the service closes without answering.
import type { KnockTransport } from "../../src/protocol/transport.ts";

/** Error codes that mean nothing was listening, so the knock did not land. */
const NOT_CONNECTED = new Set(["ConnectionRefused", "ECONNREFUSED", "FailedToOpenSocket", "ConnectionTimeout"]);

export const http = {
  name: "http",
  async knock({ host, port, origin }, signal) {
    const start = performance.now();
    const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/`;
    try {
      const response = await fetch(url, {
        signal,
        keepalive: false,
        redirect: "manual",
        ...(origin ? { headers: { origin } } : {}),
      });
      await response.body?.cancel();
      return { port, landed: true, ms: performance.now() - start };
    } catch (error) {
      const code = (error as { code?: string }).code ?? (error as Error).name;
      if (signal.aborted) return { port, landed: undefined, error: "aborted", ms: performance.now() - start };
      // The service hangs up without an HTTP answer: the request fails, but the connection was made.
      const landed = !NOT_CONNECTED.has(code);
      return {
        port,
        landed,
        ms: performance.now() - start,
        ...(landed ? {} : { error: `fetch ${url} failed: ${code}` }),
      };
    }
  },
} as const satisfies KnockTransport;
