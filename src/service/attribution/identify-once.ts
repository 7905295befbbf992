// A browser identifier that names each knocking process once per burst: every knock warms it, the report reuses the answer.
import type { BrowserIdentifier, ProcessInfo } from "./types.ts";

export interface IdentifyOnceOptions {
  /** How long a process's answer is reused, in ms. Default 5,000 (a code's knocks come within a few seconds). */
  reuseMs?: number;
  /** Processes remembered at once; past it the oldest is forgotten. Default 256. */
  maxProcesses?: number;
  /** The clock, in ms. Default performance.now. */
  now?: () => number;
}

/** The process as a knock described it: a new pid, parent, user, executable or name is another process. */
const keyOf = (p: ProcessInfo) => `${p.pid}\0${p.ppid}\0${p.uid}\0${p.exe}\0${p.name}`;

/**
 * Wraps `identifier` so that one process is identified once, not once per knock: the service warms it for
 * every knock of a burst (12 for a 3x4 code) and then asks for the answer as the burst is reported. Each
 * walk reads /proc and files, some through the thread pool, so twelve of them delayed the knocks still
 * being attributed and the report, which now takes the answer the first knock started.
 */
export function identifyOnce(identifier: BrowserIdentifier, options: IdentifyOnceOptions = {}): BrowserIdentifier {
  const reuseMs = options.reuseMs ?? 5000;
  const maxProcesses = options.maxProcesses ?? 256;
  const now = options.now ?? (() => performance.now());
  const answers = new Map<string, { at: number; answer: Promise<ProcessInfo> }>();

  function answerFor(process: ProcessInfo): Promise<ProcessInfo> {
    const key = keyOf(process);
    const known = answers.get(key);
    if (known && now() - known.at <= reuseMs) return known.answer;
    const answer = identifier.identify(process);
    answers.delete(key); // re-inserted last, so the oldest entry is the first to go past the bound
    answers.set(key, { at: now(), answer });
    if (answers.size > maxProcesses) answers.delete(answers.keys().next().value!);
    return answer;
  }

  return {
    warm(process) {
      // a failure is the report's to tell (identify hands back this same promise)
      answerFor(process).catch(() => {});
    },
    identify: answerFor,
  };
}
