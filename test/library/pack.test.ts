// The package as an integrator gets it: packed with npm pack, installed into a fresh project, a TypeScript script that receives a key end to end, and its types checked.
import { expect, test } from "bun:test";
import { copyFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findFreeRange } from "../../src/lib/ports.ts";
import { BUN, onCleanup, ROOT, tempFolder } from "../helpers.ts";

/** Runs a command to its end (killed by PID past timeoutMs or after the test); returns its exit code and output. */
async function run(cmd: string[], cwd: string, timeoutMs: number) {
  const child = Bun.spawn(cmd, { cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  onCleanup(async () => {
    if (child.exitCode === null) {
      child.kill("SIGKILL");
      await child.exited;
    }
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr, output: `${stdout}${stderr}` };
}

test("npm pack, install into a fresh project, and a TypeScript integrator receives a key through pkipc/server, pkipc/service and pkipc/client", async () => {
  const packed = tempFolder();
  const pack = await run(["npm", "pack", "--pack-destination", packed], ROOT, 120_000);
  if (pack.code !== 0) throw new Error(`npm pack failed (is npm installed? apt-get install npm): ${pack.output}`);
  const tarball = readdirSync(packed).find((f) => f.endsWith(".tgz"));
  expect(tarball).toBeDefined();

  const project = tempFolder();
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "integrator", private: true, type: "module", dependencies: { pkipc: `file:${join(packed, tarball!)}` } }));
  const install = await run(["npm", "install", "--no-audit", "--no-fund", "--prefer-offline"], project, 180_000);
  if (install.code !== 0) throw new Error(`npm install of the tarball failed: ${install.output}`);

  copyFileSync(join(ROOT, "test", "library", "integrator.ts"), join(project, "integrator.ts"));
  const range = findFreeRange(64);
  const script = await run([BUN, "integrator.ts", `${range.start}-${range.end}`], project, 60_000);
  if (script.code !== 0) throw new Error(`the integrator script failed: ${script.output}`);
  const result = JSON.parse(script.stdout.trim().split("\n").at(-1)!) as {
    linked: boolean;
    instructions: Array<{ name: string; state: string; result?: string }>;
    received: Array<{ name: string; secret: string; pid: number }>;
    pid: number;
  };
  expect({ linked: result.linked, reason: (result as { reason?: string }).reason }).toEqual({ linked: true, reason: undefined });
  expect(result.instructions).toEqual([expect.objectContaining({ name: "key-store", state: "done", result: "stored acme-api" })]);
  // the handler ran in the integrator's service and saw the key, and the knocking process it was linked to
  expect(result.received).toEqual([{ name: "acme-api", secret: "pk_live_from_the_saas", pid: result.pid, linkId: expect.any(String), origin: "https://saas.example" } as never]);

  // Types ship with the package: the integrator's script checks clean, a handler answering the wrong shape does not.
  writeFileSync(
    join(project, "wrong.ts"),
    'import { startService } from "pkipc/service";\nawait startService({ server: "http://127.0.0.1:1", handlers: { "key-store": async () => ({ ok: "yes" }) } });\n',
  );
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        // what `bun init` writes, with @types/bun taken from this repository so nothing more is downloaded
        target: "ESNext",
        module: "Preserve",
        moduleResolution: "bundler",
        lib: ["ESNext"],
        types: ["bun"],
        typeRoots: [join(ROOT, "node_modules", "@types")],
        strict: true,
        noEmit: true,
        allowImportingTsExtensions: true,
        verbatimModuleSyntax: true,
        skipLibCheck: true,
      },
      include: ["integrator.ts", "wrong.ts"],
    }),
  );
  const check = await run([join(ROOT, "node_modules", ".bin", "tsc"), "-p", "."], project, 180_000);
  const errors = check.stdout.split("\n").filter((line) => /error TS/.test(line));
  expect(errors.length).toBeGreaterThan(0);
  expect(errors.every((line) => line.startsWith("wrong.ts("))).toBe(true);
  expect(check.stdout).toContain("Property 'result' is missing");
}, 420_000);
