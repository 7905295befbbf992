// docs/configuration.md against the real CLI: every command's --help (the compiled binary), every flag and variable it
// names documented under that command's heading, and no flag documented in a command's table that its --help lacks.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, runPkipc } from "../helpers.ts";

const DOC = join(ROOT, "docs", "configuration.md");

/** Commands to check even when no COMMANDS section lists them (the nested ones citty does not list today). */
const KNOWN = [
  "server",
  "service",
  "service install",
  "service uninstall",
  "service status",
  "service origins",
  "client",
  "demo",
  "admin",
  "admin token",
  "admin services",
  "admin revoke",
  "admin api-key",
  "admin api-keys",
  "admin revoke-api-key",
  "admin acknowledge-data-loss",
];

type Help = { path: string; text: string; own: boolean };

/** One command's help, with the environment's PKIPC_ variables left out so defaults print as shipped. */
async function help(path: string): Promise<Help> {
  const env: Record<string, string> = { NO_COLOR: "1", COLUMNS: "80" };
  for (const name of Object.keys(process.env)) if (name.startsWith("PKIPC_")) env[name] = "";
  const run = await runPkipc([...path.split(" ").filter(Boolean), "--help"], 30_000, env);
  if (run.code !== 0) throw new Error(`pkipc ${path} --help exited ${run.code}: ${run.stderr.trim()}`);
  const text = run.stdout;
  const usage = /^USAGE (.*)$/m.exec(text)?.[1] ?? "";
  if (!usage) throw new Error(`pkipc ${path} --help printed no USAGE line:\n${text}`);
  // A subcommand without help of its own prints its parent's (USAGE pkipc admin for `admin token`).
  const own = path === "" || new RegExp(`(^|\\s)${path.replace(/[-]/g, "\\-")}(\\s|$)`).test(usage);
  return { path, text, own };
}

/** The names a help's COMMANDS section lists ("  server  Issue ..."), as paths below `path`. */
function subcommands(h: Help): string[] {
  const section = /\nCOMMANDS\n([\s\S]*?)\n(?=[A-Z][A-Z ]+\n)/.exec(h.text)?.[1] ?? "";
  return [...section.matchAll(/^ {2}([a-z][a-z0-9-]*)\b/gm)].map((m) => `${h.path} ${m[1]}`.trim());
}

/** Long flags an OPTIONS section lists, one per entry at its start. */
function flags(text: string): string[] {
  const section = /\nOPTIONS\n([\s\S]*?)(?:\n(?=[A-Z][A-Z ]+\n)|$)/.exec(text)?.[1] ?? "";
  return [...new Set([...section.matchAll(/^ {2}(--[a-z][a-z0-9-]*)/gm)].map((m) => m[1] as string))];
}

/** Environment variables a help names anywhere (options' "env NAME", the ENVIRONMENT section). */
function variables(text: string): string[] {
  return [...new Set(text.replace(/\n\s+/g, " ").match(/\b(PKIPC_[A-Z0-9_]+|NO_COLOR)\b/g) ?? [])];
}

/** The doc's text under the heading that names `pkipc PATH` (up to the next heading of its level or above). */
function section(doc: string, path: string): string | undefined {
  const lines = doc.split("\n");
  const start = lines.findIndex((l) => /^#{2,4} /.test(l) && l.replace(/`/g, "").trim().endsWith(`pkipc ${path}`));
  if (start < 0) return undefined;
  const level = (/^#+/.exec(lines[start] as string)?.[0] ?? "").length;
  let end = start + 1;
  while (
    end < lines.length &&
    !(/^#+ /.test(lines[end] as string) && (/^#+/.exec(lines[end] as string)?.[0] ?? "").length <= level)
  )
    end++;
  return lines.slice(start, end).join("\n");
}

/** A section without its subsections (a subcommand's headings below it). */
function ownPart(text: string): string {
  const lines = text.split("\n");
  const cut = lines.findIndex((l, i) => i > 0 && /^#+ /.test(l));
  return (cut < 0 ? lines : lines.slice(0, cut)).join("\n");
}

/** What the doc says for a command: the text before the first command heading (options of every command), its
 * own section and its parents' own parts (a subcommand takes its parent's options, not its siblings'). */
function scope(doc: string, path: string): string {
  const first = doc.search(/^#{2,4} `?pkipc /m);
  const parts = [first > 0 ? doc.slice(0, first) : ""];
  const words = path.split(" ");
  for (let i = 1; i < words.length; i++) parts.push(ownPart(section(doc, words.slice(0, i).join(" ")) ?? ""));
  parts.push(section(doc, path) ?? "");
  return parts.join("\n");
}

/** The flags a doc's table rows document: those named in a row's first cell (`--tls-cert F` / `--tls-key F`). */
function rowFlags(text: string): Set<string> {
  const rows = text.split("\n").filter((l) => l.startsWith("| `--"));
  return new Set(
    rows.flatMap((row) => [...(row.split("|")[1] ?? "").matchAll(/`(--[a-z][a-z0-9-]*)/g)].map((m) => m[1] as string)),
  );
}

/** Whether `text` names `name` in code: `--max-polls` is not named by `--max-polls-per-client`. */
function names(text: string, name: string): boolean {
  return new RegExp(`\`${name.replace(/[-]/g, "\\-")}(?![A-Za-z0-9_-])`).test(text);
}

/** Every command: the known ones, and whatever a COMMANDS section lists, found from the root down. */
async function allCommands(): Promise<Help[]> {
  const seen = new Map<string, Help>();
  const queue = ["", ...KNOWN];
  while (queue.length > 0 && seen.size < 64) {
    const path = queue.shift() as string;
    if (seen.has(path)) continue;
    const h = await help(path);
    seen.set(path, h);
    for (const sub of subcommands(h)) if (!seen.has(sub)) queue.push(sub);
  }
  return [...seen.values()];
}

describe("docs/configuration.md", async () => {
  const doc = readFileSync(DOC, "utf8");
  const commands = await allCommands();

  test("the commands found include every known one", () => {
    const paths = commands.map((c) => c.path);
    for (const path of KNOWN) expect(paths).toContain(path);
  });

  for (const command of commands.filter((c) => c.path !== "")) {
    test(`pkipc ${command.path}: named, and every flag and variable of its --help documented`, () => {
      expect(doc).toContain(`pkipc ${command.path}`);
      // A subcommand that prints its parent's help has nothing of its own: the parent's test covers that help.
      if (!command.own) return;
      expect(section(doc, command.path)).toBeDefined();
      const text = scope(doc, command.path);
      const rows = rowFlags(text);
      const missing = [
        ...flags(command.text).filter((f) => f !== "--help" && f !== "--version" && !rows.has(f)),
        ...variables(command.text).filter((v) => !names(text, v)),
      ];
      expect(missing).toEqual([]);
    });
  }

  test("no command's table documents a flag its --help lacks", () => {
    const stale: string[] = [];
    for (const command of commands.filter((c) => c.own && c.path !== "")) {
      const own = section(doc, command.path);
      if (!own) continue;
      // Only the command's own rows: a subsection (a subcommand) is checked against its own help.
      const known = new Set(flags(command.text));
      for (const flag of rowFlags(ownPart(own))) if (!known.has(flag)) stale.push(`pkipc ${command.path}: ${flag}`);
    }
    expect(stale).toEqual([]);
  });

  test("the top-level help's variables are documented", () => {
    const root = commands.find((c) => c.path === "") as Help;
    expect(variables(root.text).filter((v) => !names(doc, v))).toEqual([]);
  });
});
