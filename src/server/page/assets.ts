// The pages and scripts the server serves, fixed at build time: nothing is read from disk at run time.
import { bundleForBrowser, inlineFile } from "./bundle.ts" with { type: "macro" };

/** The embeddable browser module, served at /pkipc.js. */
export const MODULE_JS: string = bundleForBrowser("../../client/browser/index.ts");
/** The demo page's script, served at /demo.js. */
export const DEMO_JS: string = bundleForBrowser("./demo.ts");
/** The demo page, served at /. */
export const DEMO_HTML: string = inlineFile("./demo.html");
/** The page at /openapi: a link to the OpenAPI document, no script. */
export const OPENAPI_HTML: string = inlineFile("./openapi.html");
