// Routes for browsers: the demo page at /, its script, and the embeddable module at /pkipc.js.
import { Elysia } from "elysia";
import { DEMO_HTML, DEMO_JS, MODULE_JS } from "./assets.ts";

const asset = (body: string, type: string, crossOrigin: boolean) =>
  new Response(body, {
    headers: {
      "content-type": type,
      "cache-control": "no-cache",
      // Other sites load the module with <script type="module">, which fetches it in CORS mode.
      ...(crossOrigin ? { "access-control-allow-origin": "*" } : {}),
    },
  });

/** The browser-facing routes, as an Elysia plugin. */
export function pageRoutes() {
  return new Elysia({ name: "pkipc-pages" })
    .get("/", () => asset(DEMO_HTML, "text/html; charset=utf-8", false), { detail: { summary: "Demo page: knock from this browser and see what the service found" } })
    .get("/demo.js", () => asset(DEMO_JS, "text/javascript; charset=utf-8", false), { detail: { hide: true } })
    .get("/pkipc.js", () => asset(MODULE_JS, "text/javascript; charset=utf-8", true), {
      detail: { summary: "The browser module: import { link } from this URL" },
    });
}
