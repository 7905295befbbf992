// A stand-in SaaS for the demo and the browser tests: its backend holds the API key, creates each
// visitor's session and reads who linked it; its page only knocks. The production path, in miniature.
import type { Server } from "bun";
import { apiClient } from "../protocol/api-client.ts";
import { ApiError, describeError } from "../lib/errors.ts";
import { DEMO_HTML, DEMO_JS } from "../server/page/assets.ts";
import { htmlHeaders } from "../server/page/headers.ts";

export interface DemoSaas {
  /** The SaaS's own origin, e.g. http://127.0.0.1:41235: list it in the server's --allow-origin. */
  url: string;
  /** Points the backend at a pkipc server and gives it its API key; until then its API answers 503. */
  connect(server: string, apiKey: string): void;
  stop(): Promise<void>;
}

const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;

const html = (server: string) =>
  DEMO_HTML.replace(
    "<head>",
    // The server URL is ours to write: escape it for an attribute all the same.
    `<head>\n<meta name="pkipc-backend" content="/api/">\n<meta name="pkipc-server" content="${server.replace(/[&"<>]/g, (c) => `&#${c.charCodeAt(0)};`)}">`,
  );

/**
 * Starts the stand-in SaaS on `hostname` (default 127.0.0.1) and a free port. Routes: GET / (the demo
 * page, told to use this backend), GET /demo.js, POST /api/session (a session for this visitor's
 * address, made with the API key), GET /api/session/ID (its full status, identity included).
 */
export function startDemoSaas(options: { hostname?: string; port?: number } = {}): DemoSaas {
  let target:
    | { server: string; api: ReturnType<typeof apiClient>; page: string; headers: Record<string, string> }
    | undefined;
  const json = (value: unknown, status = 200) =>
    Response.json(value, { status, headers: { "cache-control": "no-store" } });
  const fail = (error: unknown) =>
    error instanceof ApiError
      ? json({ error: { code: error.code, message: error.message } }, error.status)
      : json({ error: { code: "BACKEND", message: describeError(error) } }, 502);

  const http: Server<undefined> = Bun.serve({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    async fetch(request, server) {
      const { pathname } = new URL(request.url);
      // Browsers ask every origin for one: no icon, and no 404 in the page's console.
      if (request.method === "GET" && pathname === "/favicon.ico") return new Response(null, { status: 204 });
      if (request.method === "GET" && pathname === "/demo.js") {
        return new Response(DEMO_JS, {
          headers: { "content-type": "text/javascript; charset=utf-8", "x-content-type-options": "nosniff" },
        });
      }
      if (!target)
        return json(
          { error: { code: "NOT_READY", message: "the demo SaaS is not connected to a pkipc server yet" } },
          503,
        );
      if (request.method === "GET" && pathname === "/") return new Response(target.page, { headers: target.headers });
      try {
        if (request.method === "POST" && pathname === "/api/session") {
          // A real SaaS would first check that its user is signed in; the address is the one it sees.
          const address = server.requestIP(request)?.address.replace(/^::ffff:/i, "");
          return json(
            await target.api.createSession("json", AbortSignal.timeout(5000), address ? { address } : undefined),
            201,
          );
        }
        const id = pathname.startsWith("/api/session/")
          ? decodeURIComponent(pathname.slice("/api/session/".length))
          : "";
        if (request.method === "GET" && SESSION_ID.test(id)) return json(await target.api.status(id));
      } catch (error) {
        return fail(error);
      }
      return json({ error: { code: "NOT_FOUND", message: "no such page" } }, 404);
    },
  });
  return {
    url: `http://${http.hostname?.includes(":") ? `[${http.hostname}]` : http.hostname}:${http.port}`,
    connect(server, apiKey) {
      const page = html(server);
      // The page calls its own backend and the pkipc server (for the code space and progress), nothing else.
      target = {
        server,
        api: apiClient(server, { apiKey, timeoutMs: 5000 }),
        page,
        headers: htmlHeaders(page, [new URL(server).origin]),
      };
    },
    async stop() {
      await http.stop(true);
    },
  };
}
