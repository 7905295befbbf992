// Program handlers: a local program the user configured runs once per instruction, in its own process group, bounded in time, output and number.
import { accessSync, constants, existsSync } from "node:fs";
import { homedir } from "node:os";
import { CapacityError, describeError, UnsafePathError } from "../../lib/errors.ts";
import { trustedPath } from "../../lib/trusted-path.ts";
import { Ack } from "../../protocol/schemas.ts";
import type { HandlerAnswer, HandlerContext, InstructionHandler } from "./types.ts";

/** The environment a program gets besides its context: never the service's own. */
export interface ProgramEnvironment {
  PATH?: string;
  HOME?: string;
  LANG?: string;
}

/** Stdout beyond this is not a result: the program is killed and the instruction refused. */
export const MAX_PROGRAM_OUTPUT = 64 * 1024;
/** Stderr kept for the log and the refusal; the rest is read and dropped so the program never blocks on it. */
const MAX_PROGRAM_ERRORS = 8 * 1024;
/** The longest result an answer carries (the Ack schema's bound). */
const MAX_RESULT = Ack.properties.result.maxLength ?? 4096;
/** After the program exits, its pipes get this long to drain before the reads are cut. */
const DRAIN_MS = 1000;

/** At most `max` programs at once; up to `maxWaiting` more wait their turn, the rest are refused at once. */
export function programSlots(max = 4, maxWaiting = 64) {
  let running = 0;
  const waiting: Array<() => void> = [];
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };
  return {
    /** Resolves with a release function once a slot is free; rejects when the queue is full or the signal aborts. */
    acquire(signal: AbortSignal): Promise<() => void> {
      if (signal.aborted) return Promise.reject(signal.reason);
      if (running < max) {
        running++;
        return Promise.resolve(release);
      }
      if (waiting.length >= maxWaiting)
        return Promise.reject(new CapacityError(`${max} programs are running and ${maxWaiting} waiting`));
      return new Promise((resolve, reject) => {
        const turn = () => {
          signal.removeEventListener("abort", onAbort);
          resolve(release);
        };
        const onAbort = () => {
          waiting.splice(waiting.indexOf(turn), 1);
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        waiting.push(turn);
      });
    },
    /** Programs running now. */
    get running() {
      return running;
    },
  };
}
export type ProgramSlots = ReturnType<typeof programSlots>;

/**
 * The real path of a program the service may run now: it and every folder above it (and wherever its
 * links lead) pass trustedPath, so only root or the service's user could have put it there, and the
 * service's user may execute it. Checked at start and again before every run: a folder someone else can
 * write would let them swap the program between two instructions. Throws UnsafePathError naming the path.
 */
export function runnableProgram(path: string): string {
  const real = trustedPath(path, "file");
  try {
    accessSync(real, constants.X_OK);
  } catch {
    throw new UnsafePathError(`${real} is not executable (chmod +x ${real})`);
  }
  return real;
}

export interface ProgramHandlerOptions {
  /** The instruction name it answers. */
  name: string;
  /** Absolute path, checked at start with checkProgram and before every run with runnableProgram. */
  path: string;
  env?: ProgramEnvironment;
  slots: ProgramSlots;
}

/** The variables a program sees: PATH, HOME, LANG and the link's context; facts the service lacks are left out, not empty. */
export function programEnvironment(
  base: ProgramEnvironment,
  instruction: { id: string; name: string },
  context: Omit<HandlerContext, "signal" | "log">,
): Record<string, string> {
  const { process } = context;
  const env: Record<string, string | undefined> = {
    PATH: base.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: base.HOME ?? homedir(),
    LANG: base.LANG ?? "C.UTF-8",
    PKIPC_INSTRUCTION: instruction.name,
    PKIPC_INSTRUCTION_ID: instruction.id,
    PKIPC_SESSION_ID: context.sessionId,
    PKIPC_LINK_ID: context.linkId,
    PKIPC_PID: String(process.pid),
    PKIPC_EXE: process.exe,
    PKIPC_USER: process.user,
    PKIPC_BROWSER_NAME: process.browser?.name,
    PKIPC_BROWSER_VERSION: process.browser?.version || undefined,
    PKIPC_ORIGIN: context.origin,
  };
  return Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => typeof e[1] === "string" && !e[1].includes("\0")),
  );
}

/**
 * Reads a stream to its end, keeping at most `max` bytes; `onOver` is called once when it goes past.
 * `cancel` ends the read early (a descendant that left the group may hold the pipe open).
 */
function readBounded(stream: ReadableStream<Uint8Array>, max: number, onOver?: () => void) {
  const reader = stream.getReader();
  const chunks: Buffer[] = [];
  let kept = 0;
  let total = 0;
  const done = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        total += value.length;
        if (kept < max) {
          const part = Buffer.from(value.subarray(0, max - kept));
          chunks.push(part);
          kept += part.length;
        }
        if (total > max && onOver) {
          onOver();
          onOver = undefined;
        }
      }
    } catch {
      // cancelled, or the pipe broke: keep what was read
    }
    return { bytes: Buffer.concat(chunks), total };
  })();
  return { done, cancel: () => void reader.cancel().catch(() => {}) };
}

/** Kills a program's whole process group: it leads its own (spawned detached, that is setsid). */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // the group is gone already
  }
}

/**
 * A handler that runs `path` with no shell and no arguments: the instruction's args as JSON on stdin,
 * the context in its environment, its working folder HOME. Exit status 0 answers ok with stdout (one
 * trailing newline dropped); anything else is refused with the status and the first line of stderr.
 * At the deadline, or once stdout passes 64 KiB, the program's process group is killed; whatever the
 * program leaves running in its group when it exits is killed too.
 */
export function programHandler(options: ProgramHandlerOptions): InstructionHandler {
  const { name, path, slots } = options;
  const refuse = (result: string): HandlerAnswer => ({ ok: false, result: `program ${path} ${result}` });
  return {
    name,
    async handle(instruction, context) {
      const { log, signal } = context;
      let release: () => void;
      try {
        release = await slots.acquire(signal);
      } catch (error) {
        return refuse(`was not started: ${describeError(error)}`);
      }
      try {
        try {
          runnableProgram(path);
        } catch (error) {
          if (!existsSync(path)) return refuse("is missing");
          log.warn("handler program refused", { name, path, reason: describeError(error) });
          return refuse(`was not run: ${describeError(error)}`);
        }
        let child: Bun.Subprocess<"pipe", "pipe", "pipe">;
        try {
          // `path` as configured (a multi-call program may read its name from argv[0]): every link on the
          // way sits in a folder only root or the service's user may change, so it still leads where it was checked
          child = Bun.spawn([path], {
            stdin: "pipe",
            stdout: "pipe",
            stderr: "pipe",
            cwd: options.env?.HOME ?? homedir(),
            env: programEnvironment(options.env ?? {}, instruction, context),
            detached: true,
          });
        } catch (error) {
          return refuse(`could not be started (${(error as NodeJS.ErrnoException).code ?? describeError(error)})`);
        }
        let why: string | undefined;
        const stop = (reason: string) => {
          why ??= reason;
          killGroup(child.pid);
        };
        const onAbort = () =>
          stop(
            signal.reason instanceof Error
              ? `was stopped: ${signal.reason.message}; its process group was killed`
              : "was stopped: the service is stopping",
          );
        signal.addEventListener("abort", onAbort, { once: true });
        if (signal.aborted) onAbort();
        const out = readBounded(child.stdout, MAX_PROGRAM_OUTPUT, () =>
          stop(`wrote more than ${MAX_PROGRAM_OUTPUT} bytes to stdout; it was killed`),
        );
        const err = readBounded(child.stderr, MAX_PROGRAM_ERRORS);
        try {
          child.stdin.write(JSON.stringify(instruction.args));
          await child.stdin.end();
        } catch {
          // the program exited without reading its input: its exit status says the rest
        }
        const status = await child.exited;
        killGroup(child.pid); // what it started and left in its group does not outlive it (nor holds its pipes open)
        let drain: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          Promise.all([out.done, err.done]),
          new Promise<void>((resolve) => (drain = setTimeout(resolve, DRAIN_MS))),
        ]);
        clearTimeout(drain);
        out.cancel();
        err.cancel();
        const [stdout, stderr] = await Promise.all([out.done, err.done]);
        signal.removeEventListener("abort", onAbort);
        const errors = stderr.bytes.toString("utf8");
        const firstLine =
          errors
            .split("\n")
            .find((l) => l.trim())
            ?.trim()
            .slice(0, 300) ?? "";
        if (errors.trim())
          log.info("handler program wrote to stderr", {
            name,
            path,
            status,
            stderr: errors.slice(0, 2000),
            bytes: stderr.total,
          });
        if (why) {
          log.warn("handler program stopped", { name, path, reason: why });
          return refuse(why);
        }
        if (status !== 0) {
          const killed = child.signalCode ? ` (killed by ${child.signalCode})` : "";
          return refuse(`exited with status ${status}${killed}${firstLine ? `: ${firstLine}` : ""}`);
        }
        const result = stdout.bytes.toString("utf8").replace(/\r?\n$/, "");
        if (result.length > MAX_RESULT)
          return refuse(`answered ${result.length} characters; a result holds at most ${MAX_RESULT}`);
        return { ok: true, result };
      } finally {
        release();
      }
    },
  };
}
