// The SaaS side of "Connect this computer": a page with one button, and a backend that holds the pkipc API
// key, makes each visitor's session, and hands the linked computer a per-user API key of its own.
// Run: PKIPC_SERVER=http://127.0.0.1:7870 PKIPC_API_KEY=pkak_... bun examples/connect-this-computer/saas.ts
import { createHash, randomBytes } from "node:crypto";
import type { Server } from "bun";
import { apiClient } from "../../src/library/server.ts";
import { readFileSync } from "node:fs";

export interface ExampleSaas {
  url: string;
  /** The key this SaaS made for each session it delivered, by session id (a real SaaS keeps it per user). */
  issued: Map<string, string>;
  stop(): Promise<void>;
}

const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** What the local app answers: where it stored the key, and the first 16 hex of its SHA-256. */
const fingerprint = (key: string) => createHash("sha256").update(key).digest("hex").slice(0, 16);

/** Starts the example SaaS on 127.0.0.1 (port 0: a free one), talking to the pkipc server at `pkipc` with `apiKey`. */
export function startExampleSaas(options: { pkipc: string; apiKey: string; port?: number }): ExampleSaas {
  const pkipc = apiClient(options.pkipc, { apiKey: options.apiKey, timeoutMs: 5000 });
  const issued = new Map<string, string>();
  const json = (value: unknown, status = 200) =>
    Response.json(value, { status, headers: { "cache-control": "no-store" } });
  const html = readFileSync(new URL("./page.html", import.meta.url), "utf8").replaceAll(
    "PKIPC_SERVER",
    options.pkipc.replace(/\/$/, ""),
  );

  const http: Server<undefined> = Bun.serve({
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    async fetch(request, server) {
      const { pathname } = new URL(request.url);
      const [, , id, step] = pathname.split("/"); // /connect/ID/STEP
      try {
        if (request.method === "GET" && pathname === "/")
          return new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
        // 1. A session for this visitor, bound to the address the SaaS sees them at.
        if (request.method === "POST" && pathname === "/connect") {
          const address = server.requestIP(request)?.address.replace(/^::ffff:/i, "");
          return json(
            await pkipc.createSession("json", AbortSignal.timeout(5000), address ? { address } : undefined),
            201,
          );
        }
        if (!id || !SESSION_ID.test(id)) return json({ error: "no such page" }, 404);
        // 2. Once the page has linked: check who linked, then send this user's new key to the local app.
        if (request.method === "POST" && step === "deliver") {
          const status = await pkipc.status(id);
          if (status.state !== "linked") return json({ error: `the session is ${status.state}, not linked` }, 409);
          if (issued.has(id)) return json({ error: "already delivered" }, 409);
          const key = `acme_${randomBytes(24).toString("base64url")}`;
          issued.set(id, key);
          await pkipc.queueInstruction(id, { name: "acme-key", args: { key } });
          return json({ browser: status.process?.browser ?? null, user: status.process?.user ?? null }, 202);
        }
        // 3. What the local app answered, checked against the key this SaaS made.
        if (request.method === "GET" && step === "delivery") {
          const status = await pkipc.status(id);
          const instruction = status.instructions.find((i) => i.name === "acme-key");
          const key = issued.get(id);
          if (!instruction || !key) return json({ state: "none" });
          // pkipc's own states: queued, delivered (handed to the service, no answer yet), done, refused.
          if (instruction.state === "queued" || instruction.state === "delivered") return json({ state: "waiting" });
          if (instruction.state === "refused") return json({ state: "refused", reason: instruction.result });
          const answer = JSON.parse(instruction.result ?? "{}") as { path?: string; sha256?: string };
          return json({
            state: answer.sha256 === fingerprint(key) ? "stored" : "mismatch",
            path: answer.path,
            sha256: answer.sha256,
          });
        }
      } catch (error) {
        return json({ error: (error as Error).message }, 502);
      }
      return json({ error: "no such page" }, 404);
    },
  });
  return { url: `http://127.0.0.1:${http.port}`, issued, stop: () => http.stop(true) };
}

if (import.meta.main) {
  const pkipcServer = process.env.PKIPC_SERVER;
  const apiKey = process.env.PKIPC_API_KEY;
  if (!pkipcServer || !apiKey) {
    console.error(
      'set PKIPC_SERVER (the pkipc server\'s URL) and PKIPC_API_KEY (pkipc admin api-key "acme" --origin http://127.0.0.1:PORT)',
    );
    process.exit(64);
  }
  const saas = startExampleSaas({ pkipc: pkipcServer, apiKey, port: Number(process.env.PORT ?? 0) });
  console.log(`the SaaS is at ${saas.url}/ (its origin must be on the pkipc server's --allow-origin list)`);
}
