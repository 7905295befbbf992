// Runs a service manager's command line tool with a deadline and bounded output, for the autostart backends.
import type { ToolResult, ToolRunner } from "./types.ts";

const MAX_OUTPUT = 64 << 10;

async function bounded(stream: ReadableStream<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size < MAX_OUTPUT) chunks.push(value.subarray(0, MAX_OUTPUT - size));
    size += value.byteLength;
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** A ToolRunner that spawns the tool (no shell) and kills it after `timeoutMs` (default 15,000). */
export function toolRunner(options: { timeoutMs?: number; env?: Record<string, string | undefined> } = {}): ToolRunner {
  const timeoutMs = options.timeoutMs ?? 15_000;
  return async (argv): Promise<ToolResult> => {
    let child;
    try {
      child = Bun.spawn([...argv], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: options.env });
    } catch (error) {
      return { code: 127, stdout: "", stderr: `${argv[0]} could not be started: ${(error as Error).message}` };
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    try {
      const [stdout, stderr, code] = await Promise.all([bounded(child.stdout), bounded(child.stderr), child.exited]);
      return timedOut ? { code: 124, stdout, stderr: `${argv[0]} ran past ${timeoutMs} ms and was stopped` } : { code, stdout, stderr };
    } finally {
      clearTimeout(timer);
    }
  };
}
