// The import graph of src/ and plugins/: no circle and no upward import on the real tree; a tree with both is caught.
import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describeGraph, importGraph, layerOf, LAYERS } from "../../scripts/import-graph.ts";
import { BUN, ROOT, tempFolder } from "../helpers.ts";

function tree(files: Record<string, string>): string {
  const root = tempFolder();
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

test("the real tree has no import circle, no upward import, no import between roles, and every file in a layer", () => {
  const graph = importGraph(ROOT);
  expect(graph.files.length).toBeGreaterThan(100);
  expect(graph.edges.length).toBeGreaterThan(300);
  expect(describeGraph(graph).split("\n").slice(1)).toEqual([]);
  expect(graph.circles).toEqual([]);
  expect(graph.upward).toEqual([]);
  expect(graph.betweenRoles).toEqual([]);
  expect(graph.unlayered).toEqual([]);
});

test("a circle through a type-only import, an upward import and one between roles are all found (so the check above can fail)", () => {
  const root = tree({
    "src/lib/util.ts": 'import { role } from "../server/role.ts";\nexport const util = role;\n',
    "src/server/role.ts": "export const role = 1;\n",
    "src/service/handlers/index.ts":
      'import { a } from "./a.ts";\nexport interface Handler { name: string }\nexport const all = [a];\n',
    "src/service/handlers/a.ts":
      'import type { Handler } from "./index.ts";\nexport const a: Handler = { name: "a" };\n',
    "plugins/transport/tcp.ts":
      'import type { T } from "../../src/client/transport.ts";\nexport const tcp = {} as T;\n',
    "src/client/transport.ts": "export interface T { name: string }\n",
    "src/elsewhere/x.ts": 'import "node:fs";\nimport "some-package";\n',
    "src/service/reporter.ts": 'import { role } from "../server/role.ts";\nexport const r = role;\n',
    "src/server/page/demo.ts": 'import "../../client/browser/index.ts";\n',
    "src/client/browser/index.ts": "export {};\n",
  });
  const graph = importGraph(root);
  expect(graph.circles).toEqual([["src/service/handlers/a.ts", "src/service/handlers/index.ts"]]);
  expect(graph.upward.map((edge) => `${edge.from} -> ${edge.to}`).sort()).toEqual([
    "plugins/transport/tcp.ts -> src/client/transport.ts",
    "src/lib/util.ts -> src/server/role.ts",
  ]);
  expect(graph.betweenRoles).toEqual([{ from: "src/service/reporter.ts", to: "src/server/role.ts" }]);
  expect(graph.unlayered).toEqual(["src/elsewhere/x.ts"]);
});

test("the command exits non-zero and names what it found; zero on a clean tree", async () => {
  const bad = tree({ "src/lib/a.ts": 'import "../protocol/b.ts";\n', "src/protocol/b.ts": 'import "../lib/a.ts";\n' });
  const run = (root: string) =>
    Bun.spawnSync([BUN, join(ROOT, "scripts", "import-graph.ts"), root], { stdout: "pipe", stderr: "pipe" });
  const failed = run(bad);
  expect(failed.exitCode).toBe(1);
  expect(failed.stdout.toString()).toContain("1 circles, 1 upward imports");
  expect(failed.stdout.toString()).toContain("upward: src/lib/a.ts (lib) -> src/protocol/b.ts (protocol)");
  const clean = run(
    tree({
      "src/lib/a.ts": "export const a = 1;\n",
      "src/protocol/b.ts": 'import { a } from "../lib/a.ts";\nexport const b = a;\n',
    }),
  );
  expect(clean.stdout.toString()).toContain("0 circles, 0 upward imports");
  expect(clean.exitCode).toBe(0);
});

test("commands and the demo sit above the roles, and server state is part of the server", () => {
  expect(LAYERS[layerOf("src/demo/saas.ts")]!.name).toBe("commands");
  const names = LAYERS.map((layer) => layer.name);
  expect(LAYERS[layerOf("src/commands/service/install.ts")]!.name).toBe("commands");
  expect(LAYERS[layerOf("src/server/state/redis/sessions.ts")]!.name).toBe("roles");
  expect(names.indexOf("lib")).toBeLessThan(names.indexOf("protocol"));
  expect(names.indexOf("protocol")).toBeLessThan(names.indexOf("plugins"));
  expect(names.indexOf("plugins")).toBeLessThan(names.indexOf("roles"));
  expect(names.indexOf("roles")).toBeLessThan(names.indexOf("commands"));
});
