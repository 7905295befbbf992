// Builds dist/library/: the package's entry points (pkipc/backend, pkipc/server, pkipc/service, pkipc/client) as ES modules.
// Run by `npm pack` (prepack). Bun refuses to run macros from node_modules, and the server's page assets are
// macros, so an installed package cannot run its TypeScript sources directly: it runs this build, in which the
// macros have already run, and its types come from the sources (package.json "types").
// pkipc/backend and pkipc/server load on Node, Deno and Bun (the server itself, loaded when startServer is
// called, needs Bun); on other runtimes pkipc/service and pkipc/client resolve to not-bun/*.js, which say so.
import { appendFileSync, rmSync } from "node:fs";
import { resolve } from "node:path";

const outdir = "dist/library";
rmSync(outdir, { recursive: true, force: true });
const builds = [
  {
    entrypoints: ["src/library/backend.ts", "src/library/server.ts", "src/library/service.ts", "src/library/client.ts"],
    outdir,
    target: "bun" as const,
    splitting: true,
  },
  // one sentence each, for runtimes that are not Bun
  {
    entrypoints: ["src/library/not-bun/service.ts", "src/library/not-bun/client.ts"],
    outdir: `${outdir}/not-bun`,
    target: "node" as const,
    splitting: false,
  },
];
let files = 0;
for (const build of builds) {
  const result = await Bun.build({
    ...build,
    format: "esm",
    packages: "external", // elysia, typebox, citty, xmlbuilder2: the integrator's install brings them
    naming: { entry: "[name].js", chunk: "chunk-[hash].js" },
  });
  if (!result.success) {
    for (const message of result.logs) console.error(message);
    process.exit(1);
  }
  files += result.outputs.length;
}
// Node links a module's named imports before it runs a line of it: `import { startService } from
// "pkipc/service"` would fail with "does not provide an export named" before the sentence is thrown. So each
// not-bun module declares every name its Bun module exports; its first statement still throws the sentence.
for (const name of ["service", "client"]) {
  const names = Object.keys(await import(resolve(`${outdir}/${name}.js`)));
  const declared = names.filter((n) => n !== "default" && /^[A-Za-z_$][\w$]*$/.test(n));
  const stub = `${outdir}/not-bun/${name}.js`;
  appendFileSync(
    stub,
    `\nexport let ${declared.join(", ")};\n${names.includes("default") ? "export default undefined;\n" : ""}`,
  );
}
console.log(`built ${files} files in ${outdir}`);
