// A SaaS backend in plain JavaScript, as a Node, Deno or Bun team writes it against the installed package: a session, an instruction, the link, the result.
// Run by test/library/pack.test.ts in a fresh project where `pkipc` is installed from its tarball. Prints the code to knock as one JSON line, then the outcome as another.
import process from "node:process";
import { backendClient } from "pkipc/backend";
import { startServer } from "pkipc/server";

const [server, apiKey] = process.argv.slice(2);
if (!server || !apiKey) throw new Error("usage: backend.mjs SERVER-URL API-KEY");
const runtime = globalThis.Deno ? "deno" : globalThis.Bun ? "bun" : "node";

const backend = backendClient(server, { apiKey });
const offer = await backend.createSession();
const first = await backend.queueInstruction(offer.id, { name: "log", args: { runtime } });
console.log(JSON.stringify({ tuples: offer.tuples })); // the page knocks these
const linked = await backend.waitForLink(offer.id, { timeoutMs: 20_000 });
const done = await backend.waitForInstruction(offer.id, first.id, { timeoutMs: 20_000 });
// one more after the link, as a backend instructs a linked service later
const second = await backend.queueInstruction(offer.id, { name: "log", args: { after: "link" } });
const later = await backend.waitForInstruction(offer.id, second.id, { timeoutMs: 20_000 });

// What the Bun-only parts say on another runtime: one sentence each, at the call or the import.
const refusals = {};
if (runtime !== "bun") {
  await startServer().catch((error) => (refusals.startServer = `${error.name}: ${error.message}`));
  await import("pkipc/service").catch((error) => (refusals.service = error.message));
  await import("pkipc/client").catch((error) => (refusals.client = error.message));
}
console.log(JSON.stringify({ runtime, state: linked.state, process: linked.process?.name, instructions: [done, later], refusals }));
