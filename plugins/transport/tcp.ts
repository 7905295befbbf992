// tcp: a plain TCP connect, held until the service closes it; with an origin, it writes a request head stating it first.
import type { KnockTransport } from "../../src/protocol/transport.ts";

export const tcp = {
  name: "tcp",
  knock({ host, port, origin }, signal, events?) {
    const start = performance.now();
    return new Promise((resolve) => {
      let landed = false;
      let settled = false;
      let socket: { end(): void } | undefined;
      const finish = (error?: string) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener("abort", onAbort);
        socket?.end();
        resolve({ port, landed, ms: performance.now() - start, ...(error ? { error } : {}) });
      };
      const onAbort = () => finish(landed ? undefined : "aborted before connecting");
      if (signal.aborted) return finish("aborted before connecting");
      signal.addEventListener("abort", onAbort, { once: true });
      Bun.connect({
        hostname: host,
        port,
        socket: {
          open(s) {
            landed = true;
            socket = s;
            // The service reads a knock's origin from an HTTP head, as a browser's cors fetch sends it.
            if (origin)
              s.write(
                `GET / HTTP/1.1\r\nHost: ${host.includes(":") ? `[${host}]` : host}:${port}\r\nOrigin: ${origin}\r\n\r\n`,
              );
            if (signal.aborted) finish();
            else events?.landed?.();
          },
          data() {},
          close: () => finish(),
          end: () => finish(),
          error: (_s, error) => finish(landed ? undefined : error.message),
          connectError: (_s, error) => finish(`connection to ${host}:${port} failed: ${error.message}`),
        },
      }).catch((error: Error) => finish(`connection to ${host}:${port} failed: ${error.message}`));
    });
  },
} as const satisfies KnockTransport;
