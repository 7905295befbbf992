// A server mounted under a path behind a reverse proxy (https://saas.example/pkipc/): every role reaches it by that base URL.
import { describe, expect, test } from "bun:test";
import type { ClientResult } from "../../src/client/index.ts";
import { onCleanup, runPkipc, serverProcess, serviceProcess } from "../helpers.ts";

/** A reverse proxy on a free loopback port that strips `/pkipc` and forwards to `target`, as a SaaS's front server would. */
function stripPrefixProxy(target: string): string {
  const proxy = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const url = new URL(request.url);
      if (!url.pathname.startsWith("/pkipc/")) return new Response("not under /pkipc/", { status: 404 });
      const upstream = new URL(url.pathname.slice("/pkipc".length) + url.search, target);
      return fetch(upstream, {
        method: request.method,
        headers: request.headers,
        body: request.method === "GET" || request.method === "HEAD" ? undefined : await request.arrayBuffer(),
        signal: AbortSignal.timeout(40_000),
      });
    },
  });
  onCleanup(() => proxy.stop(true));
  return `http://127.0.0.1:${proxy.port}/pkipc`;
}

describe("a server under a path prefix", () => {
  test("the service (signed reports) and the client link through a proxy that mounts the server at /pkipc", async () => {
    const server = await serverProcess();
    const base = stripPrefixProxy(server.url);
    // The token comes from the server's admin endpoint; the service enrolls, reports and acks through the proxy.
    const service = await serviceProcess(server.url, ["--server", base]);
    expect(service.log.lines.join("\n")).toContain(`server=${base}/`);
    const run = await runPkipc(["client", "--server", base, "--json"], 30_000, { PKIPC_API_KEY: server.apiKey });
    const result = JSON.parse(run.stdout) as ClientResult;
    expect(result.linked).toBe(true);
    expect(result.process?.pid).toBe(run.pid);
    await service.log.waitFor(/report -> linked/);
    // The browser module and the demo page are served under the prefix too.
    const module = await fetch(`${base}/pkipc.js`, { signal: AbortSignal.timeout(5000) });
    expect(module.status).toBe(200);
    expect(await module.text()).toContain("link");
  });
});
