// An integrator's script, as a SaaS team would write it against the installed package: a server and a service from the library, a typed handler, one key delivered.
// Run by test/library/pack.test.ts in a fresh project where `pkipc` is installed from its tarball; prints one JSON line.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runClient, transports } from "pkipc/client";
import { startServer } from "pkipc/server";
import { type HandlerFunction, startService } from "pkipc/service";

const [range] = process.argv.slice(2);
if (!range) throw new Error("usage: integrator.ts START-END");
const folder = mkdtempSync(join(tmpdir(), "pkipc-integrator-"));
const stop = new AbortController();

// The SaaS's side: a server on a free port, its backend's API key, and a one-time token to enroll the user's service.
const server = await startServer({
  listen: "127.0.0.1:0",
  range,
  servicesFile: join(folder, "services.json"),
  signal: stop.signal,
});
const { key: apiKey } = await server.registry.issueApiKey("acme backend", "https://saas.example");
const { token } = await server.registry.issueToken(60_000);

// The user's side: the SaaS's own local agent, receiving the key in a typed handler.
const received: Array<{ name: string; secret: string; pid: number; linkId: string; origin?: string }> = [];
const storeKey: HandlerFunction = async (args, context) => {
  if (!args.name || !args.secret) return { ok: false, result: "name and secret are required" };
  received.push({
    name: args.name,
    secret: args.secret,
    pid: context.process.pid,
    linkId: context.linkId,
    origin: context.origin,
  });
  return { ok: true, result: `stored ${args.name}` };
};
const service = await startService({
  server: server.url,
  keyFile: join(folder, "service-key.json"),
  enrollToken: token,
  name: "integrator test",
  handlers: { "key-store": storeKey },
  users: [process.getuid?.() ?? 0], // the user this script runs as (a service running as root must name its users)
  allowProcesses: ["bun", "bun.exe"], // this script knocks in place of a browser (npm's bun is bun.exe)
  signal: stop.signal,
});

// The backend queues the key and the page knocks, both played by the library's client; then the answer.
const result = await runClient({
  server: server.url,
  apiKey,
  transport: transports.tcp,
  instructions: [{ name: "key-store", args: { name: "acme-api", secret: "pk_live_from_the_saas" } }],
  timeoutMs: 20_000,
});

stop.abort();
await service.stopped;
rmSync(folder, { recursive: true, force: true });
console.log(
  JSON.stringify({
    linked: result.linked,
    reason: result.reason,
    instructions: result.instructions,
    received,
    pid: process.pid,
  }),
);
