// Runs a dialog program with a deadline and a bounded output: a dialog that hangs is killed, not waited on.
import { DialogUnavailableError } from "../../lib/errors.ts";

/** Most bytes of a dialog's output read (an answer is a word; anything more is not read). */
const MAX_OUTPUT = 4096;

export interface DialogRun {
  /** The exit code; null when it was killed at its deadline. */
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `argv`, killing it after `timeoutMs` (then exitCode is null). A program that is not installed
 * rejects with DialogUnavailableError naming `hint` (how to install it).
 */
export async function runDialog(argv: string[], timeoutMs: number, hint: string, env?: Record<string, string | undefined>): Promise<DialogRun> {
  let child: ReturnType<typeof Bun.spawn>;
  try {
    child = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", ...(env ? { env } : {}) });
  } catch (error) {
    throw new DialogUnavailableError(`${argv[0]} could not start (${(error as Error).message}): ${hint}`, { cause: error });
  }
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill();
  }, timeoutMs);
  try {
    const [stdout, stderr, exitCode] = await Promise.all([
      bounded(child.stdout as ReadableStream<Uint8Array>),
      bounded(child.stderr as ReadableStream<Uint8Array>),
      child.exited,
    ]);
    return { exitCode: killed ? null : exitCode, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** The first MAX_OUTPUT bytes of a stream as text; the rest is drained unread so the program never blocks. */
async function bounded(stream: ReadableStream<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size < MAX_OUTPUT) chunks.push(value.subarray(0, MAX_OUTPUT - size));
    size += value.length;
  }
  return Buffer.concat(chunks).toString("utf8");
}
