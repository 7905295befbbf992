// The import graph of src/ and plugins/: import circles, upward imports between layers and imports between roles; exits non-zero on any.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import ts from "typescript";

/**
 * The layers, lowest first (CONTRIBUTING.md, "The layers"): a file may import its own layer or a lower one.
 * The roles (server, service, client) are one layer and do not import each other; the entry points
 * (commands, cli.ts, the demo that plays all three roles, the npm library's facades) sit on top. Matched
 * by the longest prefix of the path from the root, with "/".
 */
export const LAYERS: ReadonlyArray<{ name: string; paths: readonly string[] }> = [
  { name: "lib", paths: ["src/lib/", "src/version.ts"] },
  { name: "protocol", paths: ["src/protocol/"] },
  { name: "plugins", paths: ["plugins/"] },
  { name: "roles", paths: ["src/server/", "src/service/", "src/client/"] },
  { name: "commands", paths: ["src/commands/", "src/cli.ts", "src/demo/", "src/library/"] },
];

/** The roles, each a folder no other role imports from. */
const ROLES = ["src/server/", "src/service/", "src/client/"];
/**
 * Imports from one role into another that are allowed, as [from, to] folder prefixes, each with its reason:
 * the demo page's script (src/server/page/) runs in the browser and bundles the browser module at build time.
 */
export const ALLOWED_BETWEEN_ROLES: ReadonlyArray<readonly [string, string]> = [
  ["src/server/page/", "src/client/browser/"],
];

/** The folders walked, from the root. */
const ROOTS = ["src", "plugins"];
/** A bound on the walk, so a stray symlink loop or a vendored tree cannot run away. */
const MAX_FILES = 5000;

export interface Edge {
  from: string;
  to: string;
}

export interface ImportGraph {
  files: string[];
  edges: Edge[];
  /** Each circle: the files of one strongly connected component (more than one file, or a file importing itself). */
  circles: string[][];
  /** Imports from a file to a file in a higher layer. */
  upward: Array<Edge & { fromLayer: string; toLayer: string }>;
  /** Imports from one role into another (server, service, client), but for ALLOWED_BETWEEN_ROLES. */
  betweenRoles: Edge[];
  /** Files under the roots that no layer claims (a new top-level folder must be placed in LAYERS). */
  unlayered: string[];
}

/** The layer index of a path relative to the root ("/" separated), or -1. */
export function layerOf(path: string): number {
  let best = -1;
  let bestLength = -1;
  LAYERS.forEach((layer, index) => {
    for (const prefix of layer.paths) {
      if ((path === prefix || path.startsWith(prefix)) && prefix.length > bestLength) {
        best = index;
        bestLength = prefix.length;
      }
    }
  });
  return best;
}

function sourceFiles(root: string): string[] {
  const found: string[] = [];
  const walk = (folder: string) => {
    for (const name of readdirSync(folder).sort()) {
      if (name === "node_modules" || name.startsWith(".")) continue;
      const path = join(folder, name);
      const stat = statSync(path);
      if (stat.isDirectory()) walk(path);
      else if (/\.(ts|tsx|mts)$/.test(name) && !name.endsWith(".d.ts")) {
        if (found.length >= MAX_FILES) throw new Error(`more than ${MAX_FILES} source files under ${root}`);
        found.push(path);
      }
    }
  };
  for (const top of ROOTS) {
    const folder = join(root, top);
    try {
      if (statSync(folder).isDirectory()) walk(folder);
    } catch {
      // a tree without plugins/ (or src/) is still a tree
    }
  }
  return found;
}

/** The file a relative specifier names, if it is one of ours. */
function resolveSpecifier(from: string, specifier: string, known: Set<string>): string | undefined {
  if (!specifier.startsWith(".")) return undefined; // a package or a node: builtin
  const base = resolve(dirname(from), specifier);
  for (const candidate of [base, `${base}.ts`, join(base, "index.ts")]) if (known.has(candidate)) return candidate;
  return undefined;
}

/**
 * Every import (value, type-only, re-export, dynamic) between files under `root`'s src/ and plugins/.
 * Type-only imports count: a circle through types still ties the files into one unit a reader must hold.
 */
export function importGraph(root: string): ImportGraph {
  const absolute = sourceFiles(resolve(root));
  const known = new Set(absolute);
  const name = (path: string) => relative(resolve(root), path).split(sep).join("/");
  const edges: Edge[] = [];
  const next = new Map<string, string[]>();
  for (const file of absolute) {
    const info = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    const targets = new Set<string>();
    for (const imported of info.importedFiles) {
      const target = resolveSpecifier(file, imported.fileName, known);
      if (target) targets.add(name(target));
    }
    next.set(name(file), [...targets].sort());
    for (const to of [...targets].sort()) edges.push({ from: name(file), to });
  }
  const files = absolute.map(name);
  const upward: ImportGraph["upward"] = [];
  for (const edge of edges) {
    const from = layerOf(edge.from);
    const to = layerOf(edge.to);
    if (from >= 0 && to > from) upward.push({ ...edge, fromLayer: LAYERS[from]!.name, toLayer: LAYERS[to]!.name });
  }
  const roleOf = (path: string) => ROLES.find((role) => path.startsWith(role));
  const betweenRoles = edges.filter((edge) => {
    const from = roleOf(edge.from);
    const to = roleOf(edge.to);
    if (!from || !to || from === to) return false;
    return !ALLOWED_BETWEEN_ROLES.some(
      ([source, target]) => edge.from.startsWith(source) && edge.to.startsWith(target),
    );
  });
  return {
    files,
    edges,
    circles: circles(files, next),
    upward,
    betweenRoles,
    unlayered: files.filter((file) => layerOf(file) < 0),
  };
}

/** Tarjan's strongly connected components, iteratively (no recursion depth to run out of). */
function circles(files: string[], next: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const found: string[][] = [];
  let counter = 0;
  for (const start of files) {
    if (index.has(start)) continue;
    const work: Array<{ file: string; at: number }> = [{ file: start, at: 0 }];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const targets = next.get(frame.file) ?? [];
      if (frame.at < targets.length) {
        const target = targets[frame.at++]!;
        if (!index.has(target)) {
          index.set(target, counter);
          low.set(target, counter++);
          stack.push(target);
          onStack.add(target);
          work.push({ file: target, at: 0 });
        } else if (onStack.has(target)) {
          low.set(frame.file, Math.min(low.get(frame.file)!, index.get(target)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.file, Math.min(low.get(parent.file)!, low.get(frame.file)!));
      if (low.get(frame.file) === index.get(frame.file)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.file);
        const selfImport = (next.get(frame.file) ?? []).includes(frame.file);
        if (component.length > 1 || selfImport) found.push(component.sort());
      }
    }
  }
  return found;
}

/** The report a person reads: counts first, then each problem on its own line. */
export function describeGraph(graph: ImportGraph): string {
  const lines = [
    `${graph.files.length} files, ${graph.edges.length} imports: ${graph.circles.length} circles, ${graph.upward.length} upward imports, ${graph.betweenRoles.length} imports between roles, ${graph.unlayered.length} files outside every layer`,
  ];
  for (const circle of graph.circles) lines.push(`circle: ${circle.join(" <-> ")}`);
  for (const edge of graph.upward)
    lines.push(`upward: ${edge.from} (${edge.fromLayer}) -> ${edge.to} (${edge.toLayer})`);
  for (const edge of graph.betweenRoles) lines.push(`between roles: ${edge.from} -> ${edge.to}`);
  for (const file of graph.unlayered) lines.push(`outside every layer: ${file}`);
  return lines.join("\n");
}

if (import.meta.main) {
  const root = process.argv[2] ?? join(import.meta.dir, "..");
  const graph = importGraph(root);
  console.log(describeGraph(graph));
  const bad = graph.circles.length + graph.upward.length + graph.betweenRoles.length + graph.unlayered.length;
  process.exit(bad > 0 ? 1 : 0);
}
