// The package as an integrator gets it: packed with npm pack (the library and types, never the 118 MB binary), installed into a fresh project; its pkipc command; a TypeScript integrator on Bun; a plain JavaScript backend on Node, Deno and Bun.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { knockTuples } from "../../src/client/knock.ts";
import { findFreeRange } from "../../src/lib/ports.ts";
import { transports } from "../../plugins/transport/index.ts";
import { laterServer } from "./later-server.ts";
import { BUN, binary, onCleanup, ROOT, serverProcess, serviceProcess, tempFolder } from "../helpers.ts";
import { watchLines } from "../lines.ts";

/** Runs a command to its end (killed by PID past timeoutMs or after the test); returns its exit code and output. */
async function run(cmd: string[], cwd: string, timeoutMs: number) {
  const child = Bun.spawn(cmd, {
    cwd,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
  });
  onCleanup(async () => {
    if (child.exitCode === null) {
      child.kill("SIGKILL");
      await child.exited;
    }
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr, output: `${stdout}${stderr}` };
}

/** The runtimes a backend is tested under, from this repository's node_modules or the machine (Node is the machine's). */
const RUNTIMES: Record<string, { command: string[]; hint: string }> = {
  node: { command: ["node"], hint: "apt-get install nodejs" },
  deno: {
    command: [
      join(ROOT, "node_modules", ".bin", "deno"),
      "run",
      "--allow-net=127.0.0.1",
      "--allow-read",
      "--allow-env",
    ],
    hint: "npm install (deno is a devDependency)",
  },
  bun: { command: [BUN], hint: "npm install (bun is a devDependency)" },
};

/** Largest tarball accepted, in bytes: the library is about 0.3 MB packed; the binary alone packs to 56 MB. */
const MAX_TARBALL_BYTES = 2_000_000;

describe("the npm package", () => {
  // Packed and installed once for every test below (pack and install take most of a minute).
  const folders: string[] = [];
  let project = "";
  let packed: { size: number; files: Array<{ path: string; size: number }> } = { size: 0, files: [] };
  beforeAll(async () => {
    binary(); // the binary must be there (bun run build): what is tested is that the package leaves it out
    const folder = mkdtempSync(join(tmpdir(), "pkipc-pack-"));
    folders.push(folder);
    const pack = await run(["npm", "pack", "--json", "--pack-destination", folder], ROOT, 120_000);
    if (pack.code !== 0) throw new Error(`npm pack failed (is npm installed? apt-get install npm): ${pack.output}`);
    // prepack's build prints first; npm's JSON follows
    packed = (JSON.parse(pack.stdout.slice(pack.stdout.search(/^\[/m))) as Array<typeof packed>)[0]!;
    const tarball = readdirSync(folder).find((f) => f.endsWith(".tgz"));
    if (!tarball) throw new Error(`npm pack wrote no tarball: ${pack.output}`);
    project = join(folder, "project");
    rmSync(project, { recursive: true, force: true });
    await Bun.write(
      join(project, "package.json"),
      JSON.stringify({
        name: "integrator",
        private: true,
        type: "module",
        dependencies: { pkipc: `file:${join(folder, tarball)}` },
      }),
    );
    const install = await run(["npm", "install", "--no-audit", "--no-fund", "--prefer-offline"], project, 180_000);
    if (install.code !== 0) throw new Error(`npm install of the tarball failed: ${install.output}`);
  }, 360_000);
  afterAll(() => {
    for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  });

  test("the tarball holds the library, its types and the pkipc command, never the binary", () => {
    const paths = packed.files.map((f) => f.path);
    expect(paths).not.toContain("dist/pkipc");
    expect(
      paths.filter(
        (p) =>
          !/^(src\/|plugins\/|dist\/library\/|docs\/[a-z-]+\.(md|png)$|bin\/pkipc\.js$|README\.md$|CHANGELOG\.md$|CONTRIBUTING\.md$|package\.json$)/.test(
            p,
          ),
      ),
    ).toEqual([]);
    // The README's links work where npm shows it: every file it links to is in the package.
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const linked = [...readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)]
      .map((m) => m[1]!)
      .filter((l) => !/^[a-z]+:/.test(l));
    expect(linked.length).toBeGreaterThan(3);
    expect(linked.filter((l) => !paths.includes(l.replace(/^\.\//, "")))).toEqual([]);
    for (const entry of ["backend", "server", "service", "client"]) {
      expect(paths).toContain(`dist/library/${entry}.js`);
      expect(paths).toContain(`src/library/${entry}.ts`);
    }
    expect(paths).toContain("dist/library/not-bun/service.js");
    expect(packed.size).toBeLessThan(MAX_TARBALL_BYTES);
    expect(Math.max(...packed.files.map((f) => f.size))).toBeLessThan(MAX_TARBALL_BYTES);
  });

  test("its pkipc command runs the binary a checkout built, and where none is built says how to get one", async () => {
    const installed = await run([join(project, "node_modules", ".bin", "pkipc"), "--version"], project, 30_000);
    expect(installed.code).toBe(1);
    expect(installed.stderr).toContain("the npm package holds the library only");
    expect(installed.stderr).toContain("npm run build");
    const checkout = await run(["node", join(ROOT, "bin", "pkipc.js"), "--version"], ROOT, 30_000);
    expect({ code: checkout.code, version: checkout.stdout.trim() }).toEqual({
      code: 0,
      version: (await Bun.file(join(ROOT, "package.json")).json()).version,
    });
  });

  for (const [runtime, { command, hint }] of Object.entries(RUNTIMES)) {
    test(`a plain JavaScript backend on ${runtime} (pkipc/backend) creates a session, queues instructions and reads their results from a real server and service${runtime === "bun" ? "" : ", through a stand-in for a later server that adds fields to every answer"}; on other runtimes than Bun the Bun-only parts say so`, async () => {
      if (runtime !== "node" && !existsSync(command[0]!)) throw new Error(`${command[0]} is missing: ${hint}`);
      const server = await serverProcess();
      await serviceProcess(server.url);
      // Off Bun the packaged library reads answers it does not wholly know (a later server's) as on Bun.
      const later = runtime === "bun" ? undefined : laterServer(server.url);
      copyFileSync(join(ROOT, "test", "library", "backend.mjs"), join(project, "backend.mjs"));
      const child = Bun.spawn([...command, "backend.mjs", later?.url ?? server.url, server.apiKey], {
        cwd: project,
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      });
      onCleanup(async () => {
        if (child.exitCode === null) {
          child.kill("SIGKILL");
          await child.exited;
        }
      });
      const stderr = new Response(child.stderr).text();
      const lines = watchLines(child.stdout);
      const code = await Promise.race([
        lines.waitFor(/^\{"tuples".*$/, 60_000),
        child.exited.then(async (status) => Promise.reject(new Error(`${runtime} exited ${status}: ${await stderr}`))),
      ]);
      // the page's part: knock the code on loopback (a TCP knock, from this test process)
      // with the origin a page of the API key's origin would carry: a knock that proves none links nothing
      await knockTuples(transports.tcp, (JSON.parse(code[0]!) as { tuples: number[][] }).tuples, {
        settleMs: 0,
        origin: new URL(server.url).origin,
      });
      const status = await child.exited;
      if (status !== 0) throw new Error(`the backend on ${runtime} exited ${status}: ${await stderr}`);
      const outcome = JSON.parse(lines.lines.at(-1)!) as {
        runtime: string;
        state: string;
        process?: string;
        instructions: Array<{ state: string }>;
        refusals: Record<string, string>;
      };
      expect(outcome).toMatchObject({
        runtime,
        state: "linked",
        process: "bun",
        instructions: [
          { name: "log", state: "done" },
          { name: "log", state: "done" },
        ],
      });
      if (later)
        for (const path of ["/v1/sessions", "/v1/sessions/ID", "/v1/sessions/ID/instructions"])
          expect({ path, extended: (later.extended.get(path) ?? 0) > 0 }).toEqual({ path, extended: true });
      if (runtime === "bun") expect(outcome.refusals).toEqual({});
      else {
        expect(outcome.refusals).toEqual({
          startServer: expect.stringMatching(
            /^ConfigError: startServer runs a pkipc server in this process, which needs Bun/,
          ),
          service: expect.stringMatching(/^pkipc\/service runs the local pkipc service, which needs Bun/),
          client: expect.stringMatching(/^pkipc\/client knocks like a page with Bun's sockets, which needs Bun/),
        });
        // The README's own form, a named import: the runtime links it before running a line, and still gets the sentence.
        writeFileSync(
          join(project, "named.mjs"),
          'import { startService } from "pkipc/service";\nconsole.log(typeof startService);\n',
        );
        const named = await run([...command, "named.mjs"], project, 30_000);
        expect(named.code).not.toBe(0);
        expect(named.output).toContain("pkipc/service runs the local pkipc service, which needs Bun");
        expect(named.output).not.toContain("does not provide an export");
      }
    });
  }

  test("a TypeScript integrator on Bun receives a key through pkipc/server, pkipc/service and pkipc/client", async () => {
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
    expect({ linked: result.linked, reason: (result as { reason?: string }).reason }).toEqual({
      linked: true,
      reason: undefined,
    });
    expect(result.instructions).toEqual([
      expect.objectContaining({ name: "key-store", state: "done", result: "stored acme-api" }),
    ]);
    // the handler ran in the integrator's service and saw the key, and the knocking process it was linked to
    expect(result.received).toEqual([
      {
        name: "acme-api",
        secret: "pk_live_from_the_saas",
        pid: result.pid,
        linkId: expect.any(String),
        origin: "https://saas.example",
      } as never,
    ]);

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
  }, 300_000);
});
