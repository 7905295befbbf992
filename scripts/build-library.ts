// Builds dist/library/: the package's entry points (pkipc/server, pkipc/service, pkipc/client) as ES modules for Bun.
// Run by `npm pack` (prepack). Bun refuses to run macros from node_modules, and the server's page assets are
// macros, so an installed package cannot run its TypeScript sources directly: it runs this build, in which the
// macros have already run, and its types come from the sources (package.json "types").
import { rmSync } from "node:fs";

const outdir = "dist/library";
rmSync(outdir, { recursive: true, force: true });
const result = await Bun.build({
  entrypoints: ["src/library/server.ts", "src/library/service.ts", "src/library/client.ts"],
  outdir,
  target: "bun",
  format: "esm",
  splitting: true,
  packages: "external", // elysia, typebox, citty, xmlbuilder2: the integrator's install brings them
  naming: { entry: "[name].js", chunk: "chunk-[hash].js" },
});
if (!result.success) {
  for (const message of result.logs) console.error(message);
  process.exit(1);
}
console.log(`built ${result.outputs.length} files in ${outdir}`);
