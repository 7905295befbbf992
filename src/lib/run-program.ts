// Runs a desktop or system tool (a dialog, systemctl, reg.exe) with a deadline and bounded output: one that hangs is killed, not waited on.

export interface ProgramRun {
  /** The exit code; null when the program was killed at its deadline. */
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

export interface RunProgramOptions {
  /** How long the program may run, in ms; then it is killed (SIGKILL: a hung program may ignore SIGTERM). */
  timeoutMs: number;
  /** Most bytes of stdout and of stderr kept; the rest is drained unread so the program never blocks. Default 64 KiB. */
  maxOutput?: number;
  /** The program's environment. Default: this process's. */
  env?: Record<string, string | undefined>;
}

/**
 * Runs `argv` (no shell) to its end or its deadline. Rejects only when the program cannot start (not
 * installed, not executable), with the OS's error: each caller says what that means for it.
 */
export async function runProgram(argv: readonly string[], options: RunProgramOptions): Promise<ProgramRun> {
  const maxOutput = options.maxOutput ?? 64 << 10;
  const child = Bun.spawn([...argv], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    ...(options.env ? { env: options.env } : {}),
  });
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, options.timeoutMs);
  try {
    const [stdout, stderr, exitCode] = await Promise.all([
      bounded(child.stdout, maxOutput),
      bounded(child.stderr, maxOutput),
      child.exited,
    ]);
    return { exitCode: killed ? null : exitCode, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** The first `max` bytes of a stream as text; the rest is read and dropped. */
async function bounded(stream: ReadableStream<Uint8Array>, max: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size < max) chunks.push(value.subarray(0, max - size));
    size += value.byteLength;
  }
  return Buffer.concat(chunks).toString("utf8");
}
