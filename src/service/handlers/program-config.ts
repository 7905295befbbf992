// Which programs handle which instructions: NAME=PATH pairs from flags, the environment or a handlers file, each checked before the service starts.
import { closeSync, constants, existsSync, fstatSync, openSync, readSync } from "node:fs";
import { isAbsolute } from "node:path";
import { ConfigError, describeError, UnsafePathError } from "../../lib/errors.ts";
import { trustedPath } from "../../lib/trusted-path.ts";
import { isInstructionName } from "./index.ts";
import { runnableProgram } from "./program.ts";

/** A handlers file holds at most this many programs, and is at most 64 KiB. */
const MAX_PROGRAMS = 64;
const MAX_FILE_BYTES = 64 * 1024;

/**
 * Checks that `path` can be a handler program: an absolute path to an existing regular file this user
 * may execute, which it and every folder above it leave to root or this user alone (runnableProgram).
 * Throws ConfigError with one sentence.
 */
export function checkProgram(name: string, path: string): void {
  if (!isInstructionName(name)) {
    throw new ConfigError(
      `handler name "${name.slice(0, 80)}" is not an instruction name (lowercase letters, digits and -, starting with a letter, at most 64)`,
    );
  }
  if (!isAbsolute(path))
    throw new ConfigError(`handler "${name}": the program must be an absolute path, not "${path}"`);
  if (!existsSync(path)) throw new ConfigError(`handler "${name}": the program ${path} does not exist`);
  try {
    runnableProgram(path);
  } catch (error) {
    throw new ConfigError(`handler "${name}": ${describeError(error)}`, { cause: error });
  }
}

/** Adds one NAME=PATH pair to `programs`, refusing a malformed pair or a name given twice. */
function addPair(programs: Record<string, string>, pair: string, label: string): void {
  const at = pair.indexOf("=");
  if (at < 1) throw new ConfigError(`${label} must be NAME=/absolute/path/to/program, not "${pair.slice(0, 200)}"`);
  const name = pair.slice(0, at).trim();
  const path = pair.slice(at + 1).trim();
  if (Object.hasOwn(programs, name)) throw new ConfigError(`${label}: handler "${name}" is given twice`);
  checkProgram(name, path);
  programs[name] = path;
  if (Object.keys(programs).length > MAX_PROGRAMS)
    throw new ConfigError(`${label}: at most ${MAX_PROGRAMS} handler programs`);
}

/** Parses NAME=PATH[,NAME=PATH...] (the --handler flag, repeated, and PKIPC_HANDLERS); paths with a comma belong in a handlers file. */
export function parseHandlerPairs(raw: string, label = "--handler"): Record<string, string> {
  const programs: Record<string, string> = {};
  for (const pair of raw
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean))
    addPair(programs, pair, label);
  return programs;
}

/** Reads a handlers file: JSON `{ "handlers": { "NAME": "/absolute/path" } }`, for an installed service's configuration. */
export function readHandlersFile(path: string): Record<string, string> {
  let data: unknown;
  try {
    // it names what runs as the service's user: the same trust as the programs themselves
    const fd = openSync(trustedPath(path, "file"), constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
    try {
      const size = fstatSync(fd).size;
      if (size > MAX_FILE_BYTES)
        throw new ConfigError(`the handlers file ${path} is larger than ${MAX_FILE_BYTES} bytes`);
      const bytes = Buffer.alloc(size);
      const read = readSync(fd, bytes, 0, size, 0);
      data = JSON.parse(bytes.toString("utf8", 0, read));
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    if (error instanceof UnsafePathError && existsSync(path))
      throw new ConfigError(`the handlers file ${path} is refused: ${error.message}`, { cause: error });
    const why = error instanceof SyntaxError ? "is not valid JSON" : "cannot be read";
    throw new ConfigError(`the handlers file ${path} ${why}`, { cause: error });
  }
  const handlers = (data as { handlers?: unknown } | null)?.handlers;
  if (typeof handlers !== "object" || handlers === null || Array.isArray(handlers)) {
    throw new ConfigError(`the handlers file ${path} must hold {"handlers": {"NAME": "/absolute/path"}}`);
  }
  const programs: Record<string, string> = {};
  for (const [name, program] of Object.entries(handlers)) {
    if (typeof program !== "string")
      throw new ConfigError(`the handlers file ${path}: handler "${name}" must name a program path`);
    addPair(programs, `${name}=${program}`, `the handlers file ${path}`);
  }
  return programs;
}

/** Joins handler programs from several places, refusing a name given in two of them. */
export function mergePrograms(...sources: Array<Record<string, string>>): Record<string, string> {
  const all: Record<string, string> = {};
  for (const source of sources) {
    for (const [name, path] of Object.entries(source)) {
      if (Object.hasOwn(all, name)) throw new ConfigError(`handler "${name}" is configured twice`);
      all[name] = path;
    }
  }
  return all;
}
