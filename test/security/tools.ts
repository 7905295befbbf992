// Attack tools for the security tests: raw signed requests, requests from a chosen 127.0.0.x, and a relay that
// makes a service's connections come from another loopback address.
import http from "node:http";
import type { Socket, TCPSocketListener } from "bun";
import { type ServiceCredentials, signRequest } from "../../src/protocol/signing.ts";
import { onCleanup } from "../helpers.ts";

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const agents = new Map<string, http.Agent>();

/** A keep-alive agent per source address, destroyed after the test. */
function agentFor(localAddress: string): http.Agent {
  let agent = agents.get(localAddress);
  if (!agent) {
    agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    agents.set(localAddress, agent);
    onCleanup(() => {
      agent!.destroy();
      agents.delete(localAddress);
    });
  }
  return agent;
}

/**
 * One HTTP request from `localAddress` (Bun's fetch cannot choose its source address; node:http can).
 * Resolves with the answer, rejects on a network error or after 10 s.
 */
export function requestFrom(
  localAddress: string,
  base: string,
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: string | Uint8Array } = {},
): Promise<Answer> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: url.hostname,
        port: Number(url.port),
        method,
        path: url.pathname + url.search,
        localAddress,
        agent: agentFor(localAddress),
        headers: {
          ...(init.body === undefined ? {} : { "content-length": String(Buffer.byteLength(init.body)) }),
          ...init.headers,
        },
        timeout: 10_000,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (c: Buffer) => chunks.push(c));
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error(`no answer from ${url.origin} within 10 s`)));
    request.on("error", reject);
    request.end(init.body);
  });
}

/** A signed JSON POST, as an enrolled service sends it, from `localAddress`. */
export function signedPost(
  localAddress: string,
  base: string,
  path: string,
  payload: unknown,
  credentials: ServiceCredentials,
  now?: number,
) {
  const body = typeof payload === "string" ? payload : JSON.stringify(payload);
  const headers = {
    "content-type": "application/json",
    ...signRequest(credentials, { method: "POST", path, body }, now),
  };
  return requestFrom(localAddress, base, "POST", path, { headers, body });
}

/**
 * A TCP relay on 127.0.0.1 that opens its own connection to `target` from `localAddress` for every
 * connection it accepts: to the target, whoever talks through it comes from that address (like a NAT).
 */
export function relay(localAddress: string, target: URL | string): { url: string } {
  const to = new URL(target);
  type Pair = { upstream?: Socket<any>; pending: Uint8Array[]; closed: boolean };
  const listener: TCPSocketListener<Pair> = Bun.listen<Pair>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        client.data = { pending: [], closed: false };
        Bun.connect({
          hostname: to.hostname,
          port: Number(to.port),
          localAddress,
          socket: {
            open(upstream: Socket<any>) {
              client.data.upstream = upstream;
              for (const chunk of client.data.pending.splice(0)) upstream.write(chunk);
              if (client.data.closed) upstream.end();
            },
            data(_upstream: Socket<any>, chunk: Buffer) {
              client.write(chunk);
            },
            close() {
              client.end();
            },
            error() {
              client.end();
            },
            connectError() {
              client.end();
            },
          },
        } as unknown as Parameters<typeof Bun.connect>[0]).catch(() => client.end());
      },
      data(client, chunk) {
        if (client.data.upstream) client.data.upstream.write(chunk);
        else client.data.pending.push(new Uint8Array(chunk));
      },
      close(client) {
        client.data.closed = true;
        client.data.upstream?.end();
      },
      error() {},
    },
  });
  onCleanup(() => listener.stop(true));
  return { url: `http://127.0.0.1:${listener.port}` };
}

/** `count` distinct random ports of `range`. */
export function randomPorts(range: { start: number; end: number }, count: number): number[] {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(range.start + Math.floor(Math.random() * (range.end - range.start + 1)));
  return [...ports];
}

/** A plausible attributed process, as a service would put in a report. */
export const FAKE_PROCESS = {
  pid: 4242,
  ppid: 1,
  uid: 1000,
  user: "victim",
  exe: "/usr/lib/chromium/chromium",
  name: "chromium",
};
