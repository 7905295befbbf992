// What a service does with an instruction from the server: the handler seam, the runner that bounds every handler, the registry.
import { ConfigError, HandlerDeadlineError, PkipcError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/log.ts";
import {
  Ack as AckSchema,
  type Ack,
  type Instruction,
  Instruction as InstructionSchema,
} from "../../protocol/schemas.ts";
import { type InfoField, infoHandler } from "./info.ts";
import { keyHandler } from "./key.ts";
import { logHandler } from "./log.ts";
import { programHandler, programSlots, type ProgramEnvironment } from "./program.ts";
import type { AuditLog } from "../audit.ts";
import type { HandlerAnswer, HandlerContext, InstructionHandler } from "./types.ts";

/** The longest result an answer carries (the Ack schema's bound). */
export const MAX_RESULT = AckSchema.properties.result.maxLength ?? 4096;

const NAME = InstructionSchema.properties.name;
const NAME_PATTERN = new RegExp(NAME.pattern!);
/** True for a name the protocol allows an instruction (the Instruction schema's pattern and length). */
export function isInstructionName(name: string): boolean {
  return name.length <= (NAME.maxLength ?? 64) && NAME_PATTERN.test(name);
}

/** How long a handler has by default, in ms. */
export const DEFAULT_HANDLER_TIMEOUT_MS = 10_000;

/** A handler that ignores its signal still gets this long to answer after the deadline before it is given up on. */
const GRACE_MS = 1000;

const reasonOf = (signal: AbortSignal) =>
  signal.reason instanceof PkipcError ? signal.reason.message : "the service is stopping";

function bounded(id: string, ok: unknown, result: unknown): Ack {
  if (typeof ok !== "boolean" || typeof result !== "string")
    return { id, ok: false, result: "the handler answered something other than { ok, result }" };
  // A longer result is refused rather than cut: half a JSON document would mislead whoever reads it.
  if (result.length > MAX_RESULT)
    return {
      id,
      ok: false,
      result: `the handler's result has ${result.length} characters; an answer holds at most ${MAX_RESULT}`,
    };
  return { id, ok, result };
}

/**
 * Runs an instruction through its handler within `timeoutMs`: an unknown name, a handler that throws,
 * answers out of bounds or misses its deadline each become a refusal with one sentence. Never throws.
 */
export async function runInstruction(
  handlers: Readonly<Record<string, InstructionHandler>>,
  instruction: Instruction,
  context: Omit<HandlerContext, "signal"> & { signal?: AbortSignal },
  timeoutMs = DEFAULT_HANDLER_TIMEOUT_MS,
): Promise<Ack> {
  const { id, name } = instruction;
  const handler = Object.hasOwn(handlers, name) ? handlers[name] : undefined;
  if (!handler) return { id, ok: false, result: `instruction "${name}" is not allowed by this service` };
  const deadline = new AbortController();
  const timer = setTimeout(
    () => deadline.abort(new HandlerDeadlineError(`"${name}" did not finish within ${timeoutMs} ms`)),
    timeoutMs,
  );
  const signal = context.signal ? AbortSignal.any([deadline.signal, context.signal]) : deadline.signal;
  let giveUp: ReturnType<typeof setTimeout> | undefined;
  let onAbort = () => {};
  const abandoned = new Promise<HandlerAnswer>((resolve) => {
    onAbort = () => {
      giveUp = setTimeout(
        () => resolve({ ok: false, result: `${reasonOf(signal)}; its answer was not awaited` }),
        GRACE_MS,
      );
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    const answer = await Promise.race([handler.handle(instruction, { ...context, signal }), abandoned]);
    // Success after the deadline is not success: whoever queued it was already told it is late.
    if (signal.aborted && answer?.ok === true)
      return { id, ok: false, result: `${reasonOf(signal)}; its late answer was dropped` };
    return bounded(id, answer?.ok, answer?.result);
  } catch (error) {
    return {
      id,
      ok: false,
      result: `handler failed: ${error instanceof Error ? error.message : String(error)}`.slice(0, MAX_RESULT),
    };
  } finally {
    clearTimeout(timer);
    clearTimeout(giveUp);
    signal.removeEventListener("abort", onAbort);
  }
}

/** What the local configuration says about instructions; every field has a safe default. */
export interface HandlerSettings {
  /** Instruction names this service carries out; anything else is refused. Default ["log"]. Program handlers are allowed by being configured. */
  allow?: readonly string[];
  /** Handlers given in code (the library's typed handlers); each must be allowed like a built-in. */
  handlers?: Readonly<Record<string, InstructionHandler>>;
  /** The folder `key` writes into (created 0700). Required to allow `key`. */
  keyDir?: string;
  /** The fields `info` may send. Default DEFAULT_INFO_FIELDS. */
  infoFields?: readonly InfoField[];
  /** Local programs by instruction name (absolute paths, checked with checkProgram). */
  programs?: Readonly<Record<string, string>>;
  /** PATH, HOME and LANG for programs (nothing else of the service's environment reaches them). */
  programEnv?: ProgramEnvironment;
  /** Programs running at once; more wait in a bounded queue. Default 4. */
  maxPrograms?: number;
  /** How long a handler has, in ms, after which a program's process group is killed. Default 10,000. */
  timeoutMs?: number;
  /** Where each instruction carried out or refused is recorded (the audit file). Default: nowhere. */
  audit?: AuditLog;
}

/** Runs what this service allows: built from HandlerSettings, checked at start. */
export interface InstructionRunner {
  /** The names this service carries out. */
  readonly allowed: readonly string[];
  run(instruction: Instruction, context: Omit<HandlerContext, "signal"> & { signal?: AbortSignal }): Promise<Ack>;
}

/** The built-in handlers by name, and what each needs before it may be allowed. */
const BUILTINS = ["log", "key", "info"] as const;

/**
 * Checks the configuration and builds the runner. Throws ConfigError, with one sentence, for an allowed
 * name nothing handles, `key` without a key folder, or a program named like another handler.
 */
export function createInstructionRunner(settings: HandlerSettings = {}, log?: Logger): InstructionRunner {
  const given = settings.handlers ?? {};
  const programs = settings.programs ?? {};
  const timeoutMs = settings.timeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS;
  const handlers: Record<string, InstructionHandler> = {};
  for (const name of Object.keys(given)) {
    if (!isInstructionName(name))
      throw new ConfigError(
        `handler name "${name}" is not an instruction name (lowercase letters, digits and -, starting with a letter)`,
      );
  }
  const slots = programSlots(settings.maxPrograms ?? 4);
  for (const [name, path] of Object.entries(programs)) {
    if ((BUILTINS as readonly string[]).includes(name) || Object.hasOwn(given, name)) {
      throw new ConfigError(`handler program "${name}" has the name of another handler; choose another name`);
    }
    handlers[name] = programHandler({ name, path, env: settings.programEnv, slots });
  }
  for (const name of settings.allow ?? ["log"]) {
    if (Object.hasOwn(handlers, name)) continue;
    if (Object.hasOwn(given, name)) handlers[name] = given[name]!;
    else if (name === "log") handlers.log = logHandler;
    else if (name === "info") handlers.info = infoHandler({ fields: settings.infoFields });
    else if (name === "key") {
      if (!settings.keyDir)
        throw new ConfigError(`instruction "key" is allowed but no key folder is set (--key-dir DIR)`);
      handlers.key = keyHandler({ dir: settings.keyDir });
    } else {
      const known = [...BUILTINS, ...Object.keys(given)].join(", ");
      throw new ConfigError(
        `instruction "${name}" is allowed but this service has no handler for it (known: ${known}; programs: --handler NAME=PATH)`,
      );
    }
  }
  if (Object.keys(programs).length && process.getuid?.() === 0) {
    log?.warn("handler programs run as root, as this service does: give them only to programs written for that");
  }
  if (settings.keyDir && !handlers.key)
    log?.warn('--key-dir is set but instruction "key" is not allowed (--allow-instructions key)');
  return {
    allowed: Object.keys(handlers),
    async run(instruction, context) {
      const started = performance.now();
      const ack = await runInstruction(handlers, instruction, context, timeoutMs);
      const ms = Math.round(performance.now() - started);
      // Every run, the successful ones too, with who asked and how it ended: never its arguments or result (a key).
      const { process: who, origin, linkId } = context;
      log?.[ack.ok ? "info" : "warn"](`instruction ${instruction.name} ${ack.ok ? "done" : "refused"}`, {
        origin: origin ?? "none",
        pid: who.pid,
        process: who.name,
        ms,
      });
      settings.audit?.record({
        time: new Date().toISOString(),
        instruction: instruction.name,
        id: instruction.id,
        ok: ack.ok,
        ms,
        origin: origin ?? "none",
        linkId,
        pid: who.pid,
        process: who.name,
        uid: who.uid,
        user: who.user,
      });
      return ack;
    },
  };
}
