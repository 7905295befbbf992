// Reference servers for bench/throughput.ts: the same session-issue work as pkipc (crypto-random code, JSON
// answer), as an Elysia route with a response schema or as a bare Bun.serve. Prints its port; runs until killed.
import { Elysia } from "elysia";
import { drawCode, randomId } from "../../src/protocol/code.ts";
import { SessionOffer } from "../../src/protocol/schemas.ts";

const RANGE = { start: 29170, end: 29233 };
const SHAPE = { tuples: 3, portsPerTuple: 4 };
const TTL_MS = 30_000;

const offer = () => ({
  id: randomId(16),
  tuples: drawCode(RANGE, SHAPE),
  expiresAt: new Date(Date.now() + TTL_MS).toISOString(),
  ttlMs: TTL_MS,
  settleMs: 0,
});

const kind = process.argv[2];
if (kind === "elysia") {
  // POST, as pkipc's sessions are asked for (by a backend with its API key; the reference checks no key).
  const app = new Elysia().post("/v1/sessions", () => offer(), { response: { 200: SessionOffer } });
  app.listen({ hostname: "127.0.0.1", port: 0, reusePort: false });
  console.log(`port ${app.server!.port}`);
} else if (kind === "bare") {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () =>
      new Response(JSON.stringify(offer()), { headers: { "content-type": "application/json; charset=utf-8" } }),
  });
  console.log(`port ${server.port}`);
} else {
  console.error("usage: servers.ts elysia|bare");
  process.exit(64);
}
