// Follows a child process's output line by line (tests and benchmarks): drains it, keeps it, waits for a pattern.

/** Reads a child's stderr line by line until one matches, keeping everything read; fails after timeoutMs. */
export function watchLines(stream: ReadableStream<Uint8Array>) {
  const lines: string[] = [];
  let notify: (() => void) | undefined;
  (async () => {
    const decoder = new TextDecoder();
    let buffer = "";
    const reader = stream.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        lines.push(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
        notify?.();
      }
    }
  })().catch(() => {});
  return {
    lines,
    async waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
      const end = Date.now() + timeoutMs;
      let seen = 0;
      for (;;) {
        for (; seen < lines.length; seen++) {
          const match = lines[seen]!.match(pattern);
          if (match) return match;
        }
        if (Date.now() > end) throw new Error(`timed out waiting for ${pattern}; output so far:\n${lines.join("\n")}`);
        await new Promise<void>((resolve) => {
          notify = resolve;
          setTimeout(resolve, 50);
        });
      }
    },
  };
}
