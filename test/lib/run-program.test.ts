// The one runner for desktop and system tools: its deadline kills, its output is bounded, a missing program rejects.
import { describe, expect, test } from "bun:test";
import { runProgram } from "../../src/lib/run-program.ts";

describe("runProgram", () => {
  test("a program's exit code and output", async () => {
    const run = await runProgram(["sh", "-c", "echo out; echo err >&2; exit 3"], { timeoutMs: 20_000 });
    expect(run).toEqual({ exitCode: 3, stdout: "out\n", stderr: "err\n" });
  });

  test("one that runs past its deadline is killed: exit code null, what it printed kept", async () => {
    const run = await runProgram(["sh", "-c", "echo started; exec sleep 60"], { timeoutMs: 500 });
    expect(run.exitCode).toBeNull();
    expect(run.stdout).toBe("started\n");
  });

  test("output past the bound is drained, not kept, and the program is not blocked", async () => {
    const run = await runProgram(["sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' x; echo done >&2"], {
      timeoutMs: 20_000,
      maxOutput: 100,
    });
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe("x".repeat(100));
    expect(run.stderr).toBe("done\n");
  });

  test("a program that is not installed rejects", async () => {
    await expect(runProgram(["pkipc-no-such-program"], { timeoutMs: 1000 })).rejects.toThrow();
  });
});
