// The browser's knock transports: fetch and WebSocket, plain and TLS, behind the transport contract (src/protocol/transport.ts); bundled into the page module (/pkipc.js).
import type { KnockResult, KnockTarget, KnockTransport } from "../../../src/protocol/transport.ts";

const hostPart = (host: string) => (host.includes(":") ? `[${host}]` : host);

/**
 * A fetch knock. The service never answers, and only needs the connection made, and (http) the page's
 * `Origin` in the request head: mode cors sends it (no-cors GET does not), which is how the service
 * tells this page's knocks from another tab's and proves the session's origin. Whatever the browser
 * reports (a network error, a Local Network Access refusal) the connection was already accepted, so
 * every outcome is a finished knock whose landing a page cannot see. https knocks carry a TLS
 * ClientHello only: no origin (they link only in WebKit, which cannot send one from an https page).
 */
function fetchTransport(name: string, scheme: "http" | "https"): KnockTransport {
  return {
    name,
    async knock({ host, port }: KnockTarget, signal: AbortSignal): Promise<KnockResult> {
      const start = performance.now();
      try {
        await fetch(`${scheme}://${hostPart(host)}:${port}/`, {
          mode: scheme === "http" ? "cors" : "no-cors",
          cache: "no-store",
          credentials: "omit",
          referrerPolicy: "no-referrer",
          signal,
        });
        return { port, landed: undefined, ms: performance.now() - start };
      } catch (error) {
        const why = signal.aborted ? "aborted" : (error as Error).message;
        return { port, landed: undefined, error: why, ms: performance.now() - start };
      }
    },
  };
}

/**
 * A path no WebSocket of this page has used before. Firefox delays a WebSocket to an address, path and
 * port that failed recently (200-400 ms, x1.5 per failure, up to 60 s, forgotten 60 s after), and while
 * one is delayed every later WebSocket to that address waits behind it. Each knock fails by design, so
 * with a fixed path a second link within a minute crawled; a fresh path is a fresh entry. It is random
 * so that two tabs of one origin never share one.
 */
function freshPath(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A WebSocket knock: the handshake (ws: with the page's `Origin`) never completes; the service closes once it knows who knocked. */
function webSocketTransport(name: string, scheme: "ws" | "wss"): KnockTransport {
  return {
    name,
    knock({ host, port }: KnockTarget, signal: AbortSignal): Promise<KnockResult> {
      const start = performance.now();
      return new Promise((resolve) => {
        let socket: WebSocket | undefined;
        let settled = false;
        const finish = (error?: string) => {
          if (settled) return;
          settled = true;
          signal.removeEventListener("abort", onAbort);
          try {
            socket?.close();
          } catch {
            // already closed
          }
          resolve({ port, landed: undefined, ms: performance.now() - start, ...(error ? { error } : {}) });
        };
        const onAbort = () => finish("aborted");
        if (signal.aborted) return finish("aborted");
        signal.addEventListener("abort", onAbort, { once: true });
        try {
          socket = new WebSocket(`${scheme}://${hostPart(host)}:${port}/${freshPath()}`);
        } catch (error) {
          return finish((error as Error).message);
        }
        socket.onerror = () => finish();
        socket.onclose = () => finish();
        socket.onopen = () => finish();
      });
    },
  };
}

/**
 * Every browser transport, by name. fetch and ws carry the page's origin; https and wss (TLS) do not, so
 * in Chromium and Firefox they link no session that has an origin (only WebKit, which has no other way
 * from an https page, links with them).
 */
export const browserTransports = {
  fetch: fetchTransport("fetch", "http"),
  https: fetchTransport("https", "https"),
  ws: webSocketTransport("ws", "ws"),
  wss: webSocketTransport("wss", "wss"),
} as const satisfies Record<string, KnockTransport>;

export type BrowserTransportName = keyof typeof browserTransports;
