// How pkipc is compiled into one executable, shared by the build, the release and the tests that cross-compile.
import { $ } from "bun";
import { join, resolve } from "node:path";

/** The repository root (scripts/..). */
export const ROOT = join(import.meta.dir, "..");

/** `bun build` arguments for one executable holding the runtime, the code and every asset; `target` cross-compiles (e.g. bun-windows-x64). */
export function compileArgs(outfile: string, target?: string): string[] {
  return [
    "build",
    "--compile",
    "--minify-syntax",
    "--bytecode",
    "--format=esm",
    join(ROOT, "src/cli.ts"),
    "--outfile",
    resolve(outfile),
    ...(target ? [`--target=${target}`] : []),
  ];
}

/** Compiles pkipc to `outfile` with the bun that runs this script; throws with bun's output when it fails. */
export async function compile(outfile: string, target?: string): Promise<void> {
  await $`${process.execPath} ${compileArgs(outfile, target)}`.cwd(ROOT).quiet();
}
