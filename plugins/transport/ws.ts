// ws: a WebSocket to ws://HOST:PORT/, the other way a web page can reach loopback (its handshake states the Origin).
import type { KnockTransport } from "../../src/protocol/transport.ts";

export const ws = {
  name: "ws",
  knock({ host, port, origin }, signal) {
    const start = performance.now();
    const url = `ws://${host.includes(":") ? `[${host}]` : host}:${port}/`;
    return new Promise((resolve) => {
      let settled = false;
      let socket: WebSocket;
      const finish = (landed: boolean | undefined, error?: string) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener("abort", onAbort);
        try {
          socket?.close();
        } catch {
          // already closed
        }
        resolve({ port, landed, ms: performance.now() - start, ...(error ? { error } : {}) });
      };
      const onAbort = () => finish(undefined, "aborted");
      if (signal.aborted) return finish(undefined, "aborted");
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        // Bun's WebSocket takes headers, as a browser's handshake carries its page's Origin.
        socket = origin ? new WebSocket(url, { headers: { origin } } as never) : new WebSocket(url);
      } catch (error) {
        return finish(false, `WebSocket ${url} failed: ${(error as Error).message}`);
      }
      // Like a browser, a WebSocket cannot tell a refused port from a service that hung up: landed is unknown.
      socket.onclose = () => finish(undefined);
      socket.onerror = () => finish(undefined);
      socket.onopen = () => finish(true);
    });
  },
} as const satisfies KnockTransport;
