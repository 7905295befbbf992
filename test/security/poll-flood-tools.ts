// A long-poll flood as an attacker sends it: raw HTTP/1.1 requests on sockets bound to many 127.0.0.x source
// addresses, held open until answered. Shared by test/security/poll-flood.test.ts and bench/poll-flood.ts.
import http from "node:http";
import net from "node:net";

/** One held poll's outcome: its HTTP status (0: no answer by the deadline, or the connection failed) and when. */
export interface PollOutcome {
  status: number;
  /** ms from sending to the status line (or to giving up). */
  ms: number;
}

export interface Flood {
  /** Resolves when every poll has an answer or gave up. */
  done: Promise<PollOutcome[]>;
  /** Resolves when every poll has been sent (its connection opened). */
  sent: Promise<void>;
  /** Polls sent so far whose answer has not come. */
  open(): number;
  /** Destroys every socket still open. */
  close(): void;
}

/** The n-th of `count` loopback source addresses: 127.0.(1 + n / 250).(2 + n % 250). */
export const sourceAddress = (n: number) => `127.0.${1 + Math.floor(n / 250)}.${2 + (n % 250)}`;

/**
 * Sends `count` GETs of `paths[i % paths.length]` (e.g. /v1/sessions/ID?wait=30), poll i from
 * `addresses[i % addresses.length]`, `headers` on each (e.g. a forged Origin), and waits for each status
 * line; a poll without one by `deadlineMs` counts as status 0. Only the status line is read. With `pace`,
 * connections are opened `batch` at a time, `pauseMs` apart (a burst of thousands overflows the kernel's
 * accept queue, whose retries then say nothing of the server).
 */
export function pollFlood(
  base: string,
  paths: string[],
  addresses: string[],
  count: number,
  headers: Record<string, string>,
  deadlineMs: number,
  pace?: { batch: number; pauseMs: number },
): Flood {
  const url = new URL(base);
  const sockets = new Set<net.Socket>();
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  const one = (i: number) =>
    new Promise<PollOutcome>((resolve) => {
      const start = performance.now();
      let settled = false;
      let head = "";
      const socket = net.connect({
        host: url.hostname,
        port: Number(url.port),
        localAddress: addresses[i % addresses.length],
      });
      sockets.add(socket);
      const finish = (status: number) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sockets.delete(socket);
        socket.destroy();
        resolve({ status, ms: performance.now() - start });
      };
      const timer = setTimeout(() => finish(0), deadlineMs);
      socket.on("connect", () => {
        socket.write(
          `GET ${paths[i % paths.length]} HTTP/1.1\r\nHost: ${url.host}\r\n${extra}Connection: close\r\n\r\n`,
        );
      });
      socket.on("data", (chunk: Buffer) => {
        head += chunk.toString("latin1");
        const line = /^HTTP\/1\.[01] (\d{3})/.exec(head);
        if (line) finish(Number(line[1]));
        else if (head.length > 64) finish(0);
      });
      socket.on("error", () => finish(0));
      socket.on("close", () => finish(0));
    });
  const all: Promise<PollOutcome>[] = [];
  const sent = (async () => {
    for (let i = 0; i < count; i++) {
      all.push(one(i));
      if (pace && i % pace.batch === pace.batch - 1) await Bun.sleep(pace.pauseMs);
    }
  })();
  return {
    done: sent.then(() => Promise.all(all)),
    sent,
    open: () => sockets.size,
    close: () => {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
  };
}

/** How many outcomes had each status, e.g. { 200: 10, 429: 5 }. */
export function tally(outcomes: PollOutcome[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const o of outcomes) counts[o.status] = (counts[o.status] ?? 0) + 1;
  return counts;
}

/** A page session made from `localAddress` with only an Origin header, as curl forges it; its id. */
export function pageSession(base: string, localAddress: string, origin: string): Promise<string> {
  const url = new URL("/v1/sessions", base);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: url.hostname,
        port: Number(url.port),
        method: "POST",
        path: url.pathname,
        localAddress,
        headers: { origin },
        timeout: 10_000,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (c: Buffer) => chunks.push(c));
        response.on("end", () => {
          const body = Buffer.concat(chunks).toString();
          if (response.statusCode === 201) resolve((JSON.parse(body) as { id: string }).id);
          else
            reject(new Error(`a page session from ${localAddress} got ${response.statusCode}: ${body.slice(0, 200)}`));
        });
      },
    );
    request.on("timeout", () => request.destroy(new Error(`no answer from ${url.origin} within 10 s`)));
    request.on("error", reject);
    request.end();
  });
}
