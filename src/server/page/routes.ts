// Routes for browsers: the demo page at /, its script, the embeddable module at /pkipc.js, and /openapi.
import { Elysia } from "elysia";
import { DEMO_HTML, DEMO_JS, MODULE_JS, OPENAPI_HTML } from "./assets.ts";
import { htmlHeaders } from "./headers.ts";

const DEMO_HEADERS = htmlHeaders(DEMO_HTML);
const OPENAPI_HEADERS = htmlHeaders(OPENAPI_HTML);

const page = (body: string, headers: Record<string, string>) => new Response(body, { headers });
const script = (body: string, crossOrigin: boolean) =>
  new Response(body, {
    headers: {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
      // Other sites load the module with <script type="module">, which fetches it in CORS mode.
      ...(crossOrigin ? { "access-control-allow-origin": "*" } : {}),
    },
  });

/** The browser-facing routes, as an Elysia plugin. */
export function pageRoutes() {
  return (
    new Elysia({ name: "pkipc-pages" })
      .get("/", () => page(DEMO_HTML, DEMO_HEADERS), {
        detail: { summary: "Demo page: knock from this browser and see what the service found" },
      })
      .get("/demo.js", () => script(DEMO_JS, false), { detail: { hide: true } })
      .get("/pkipc.js", () => script(MODULE_JS, true), {
        detail: { summary: "The browser module: import { link } from this URL" },
      })
      // A plain page, not a viewer: a viewer would be a third-party script running on this origin, which the
      // server's CORS and page checks always trust. The document itself is at /openapi/json.
      .get("/openapi", () => page(OPENAPI_HTML, OPENAPI_HEADERS), { detail: { hide: true } })
      // Browsers ask every origin for one: no icon, and no 404 in the console of every page.
      .get("/favicon.ico", () => new Response(null, { status: 204 }), { detail: { hide: true } })
  );
}
