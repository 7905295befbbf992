// Test handler programs: one executable sh wrapper per mode of test/fixtures/handler-program.ts, in a private folder.
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, ROOT, tempFolder } from "../../helpers.ts";

export type ProgramMode = "echo" | "hang" | "flood" | "fail" | "long";

const FIXTURE = join(ROOT, "test", "fixtures", "handler-program.ts");

/** Writes an executable (mode 0755) that runs the fixture in `mode`; returns its absolute path. */
export function handlerProgram(mode: ProgramMode, folder = tempFolder()): string {
  const path = join(folder, `handler-${mode}`);
  writeFileSync(path, `#!/bin/sh\nexec "${BUN}" "${FIXTURE}" ${mode}\n`, { mode: 0o755 });
  chmodSync(path, 0o755);
  return path;
}

/** True while `pid` is a live process (a zombie, or a pid gone from /proc, counts as dead). */
export async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await Bun.file(`/proc/${pid}/stat`).text();
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}
