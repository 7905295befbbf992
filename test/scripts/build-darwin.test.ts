// The macOS binaries build here (nothing can run them): scripts/build.ts cross-compiles both darwin targets to Mach-O executables.
import { describe, expect, test } from "bun:test";
import { openSync, readSync, closeSync, statSync } from "node:fs";
import { join } from "node:path";
import { BUN, onCleanup, ROOT, tempFolder } from "../helpers.ts";

/** Mach-O 64-bit magic (MH_MAGIC_64, little-endian) and CPU types from <mach/machine.h>. */
const MH_MAGIC_64 = 0xfeedfacf;
const CPU_TYPE = { "bun-darwin-arm64": 0x0100000c, "bun-darwin-x64": 0x01000007 } as const;

function machHeader(file: string): { magic: number; cpu: number } {
  const fd = openSync(file, "r");
  try {
    const head = new Uint8Array(8);
    readSync(fd, head, 0, 8, 0);
    const view = new DataView(head.buffer);
    return { magic: view.getUint32(0, true), cpu: view.getUint32(4, true) };
  } finally {
    closeSync(fd);
  }
}

describe("darwin builds", () => {
  for (const target of Object.keys(CPU_TYPE) as (keyof typeof CPU_TYPE)[]) {
    test(`${target}: scripts/build.ts writes a Mach-O executable for that CPU`, async () => {
      const outfile = join(tempFolder(), "pkipc");
      const child = Bun.spawn([BUN, "run", "scripts/build.ts"], {
        cwd: ROOT,
        env: { ...process.env, PKIPC_TARGET: target, PKIPC_OUTFILE: outfile },
        stdout: "pipe",
        stderr: "pipe",
      });
      onCleanup(() => child.kill("SIGKILL"));
      const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
      expect({ code, stderr: code === 0 ? "" : stderr }).toEqual({ code: 0, stderr: "" });
      expect(statSync(outfile).size).toBeGreaterThan(10 << 20);
      expect(machHeader(outfile)).toEqual({ magic: MH_MAGIC_64, cpu: CPU_TYPE[target] });
    });
  }
});
