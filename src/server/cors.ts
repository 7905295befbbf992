// CORS for the routes a page calls through the browser module: only for the origins the operator allows.
import { Elysia } from "elysia";

/** Paths a page may call: the module's own calls, nothing a service or a backend uses. */
const BROWSER_PATHS = [/^\/v1\/config$/, /^\/v1\/sessions$/, /^\/v1\/sessions\/[A-Za-z0-9_-]+$/];

const PREFLIGHT = {
  "access-control-allow-methods": "GET, POST",
  "access-control-allow-headers": "accept",
  "access-control-max-age": "600",
};

/**
 * Answers CORS for the browser-facing routes, echoing the page's Origin when `allowed(origin)` says so
 * and sending no CORS header otherwise (the route itself then refuses the request with 403). No
 * credentials: a page holds nothing but its session id.
 */
export function browserCors(allowed: (origin: string) => boolean) {
  return new Elysia({ name: "pkipc-cors" })
    .onRequest(({ request, set }) => {
      // Only requests that name an origin get CORS headers: a backend's calls (no Origin) are answered as
      // built, without parsing the URL here or Elysia copying the response to add headers.
      const origin = request.headers.get("origin");
      if (origin === null) return;
      const path = new URL(request.url).pathname;
      if (!BROWSER_PATHS.some((p) => p.test(path))) return;
      const ok = allowed(origin);
      if (request.method === "OPTIONS") {
        return ok
          ? new Response(null, {
              status: 204,
              headers: { ...PREFLIGHT, "access-control-allow-origin": origin, vary: "Origin" },
            })
          : new Response(null, { status: 403, headers: { vary: "Origin" } });
      }
      set.headers.vary = "Origin";
      if (ok) set.headers["access-control-allow-origin"] = origin;
    })
    .as("global");
}
