// Build-time macros: bundle browser code and inline page files, so the compiled binary carries them as strings.
import { readFileSync } from "node:fs";

/**
 * Bundles a browser entry point (path relative to this file) into one minified ES module. Runs as a
 * Bun macro, at `bun build --compile` and when the source is run directly; Bun.build cannot run
 * inside a macro (the bundler would wait on itself), so it calls the bun CLI, as Bun advises.
 */
export function bundleForBrowser(entry: string): string {
  const path = new URL(entry, import.meta.url).pathname;
  const result = Bun.spawnSync([process.execPath, "build", path, "--target=browser", "--format=esm", "--minify"], {
    stdout: "pipe",
    stderr: "pipe",
  });
  if (!result.success) throw new Error(`bundling ${entry} failed: ${result.stderr.toString()}`);
  return result.stdout.toString();
}

/** The text of a file next to this one, read at build time. */
export function inlineFile(name: string): string {
  return readFileSync(new URL(name, import.meta.url), "utf8");
}
