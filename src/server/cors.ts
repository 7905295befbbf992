// CORS for the routes a page on another origin calls through the browser module.
import { Elysia } from "elysia";

/** Paths a cross-origin page may call: the module's own calls, nothing a service uses. */
const BROWSER_PATHS = [/^\/v1\/config$/, /^\/v1\/sessions$/, /^\/v1\/sessions\/[A-Za-z0-9_-]+$/];

const HEADERS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST",
  "access-control-allow-headers": "accept, content-type",
  "access-control-max-age": "600",
};

/**
 * Adds CORS headers to the browser-facing API routes and answers their preflights. No credentials:
 * a session is a bearer of its own id, so any origin may ask for one (the security layer may narrow it).
 */
export function browserCors() {
  return new Elysia({ name: "pkipc-cors" })
    .onRequest(({ request, set }) => {
      const path = new URL(request.url).pathname;
      if (!BROWSER_PATHS.some((p) => p.test(path))) return;
      if (request.method === "OPTIONS") return new Response(null, { status: 204, headers: HEADERS });
      set.headers["access-control-allow-origin"] = "*";
    })
    .as("global");
}
