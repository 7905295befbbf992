// The one logger: a line per event on stderr, as text for people or JSON for machines.
import { printable } from "./printable.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose lines all carry `fields` (for example the role). */
  child(fields: LogFields): Logger;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  /** Lowest level written. Default "info". */
  level?: LogLevel;
  /** Default "text". */
  format?: LogFormat;
  /** Where lines go. Default: stderr. */
  write?: (line: string) => void;
  /** The clock each line's time comes from (tests pass a fixed one). Default: now. */
  now?: () => Date;
}

/** A field's value for a text line; control and bidi characters (from process names, paths) are shown escaped. */
function formatValue(value: unknown): string {
  if (typeof value === "string") return printable(/[\s"=]/.test(value) ? JSON.stringify(value) : value);
  return printable(String(JSON.stringify(value)));
}

/** Creates a logger; a silent one is `createLogger({ write: () => {} })`. */
export function createLogger(options: LoggerOptions = {}, bound: LogFields = {}): Logger {
  const min = RANK[options.level ?? "info"];
  const format = options.format ?? "text";
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const now = options.now ?? (() => new Date());
  const emit = (level: LogLevel, message: string, fields?: LogFields) => {
    if (RANK[level] < min) return;
    const all = { ...bound, ...fields };
    const time = now().toISOString();
    if (format === "json") {
      write(JSON.stringify({ time, level, msg: message, ...all }));
      return;
    }
    const role = typeof all.role === "string" ? `[${all.role}] ` : "";
    delete all.role;
    const rest = Object.entries(all)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${formatValue(v)}`)
      .join(" ");
    const tag = level === "info" ? "" : `${level.toUpperCase()} `;
    // A time on every line: an installed service's log (journal aside) is read later, by someone asking "when?".
    write(`${time} ${role}${tag}${printable(message)}${rest ? ` ${rest}` : ""}`);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger(options, { ...bound, ...fields }),
  };
}

/** A logger that drops everything (tests and library defaults). */
export const silentLogger: Logger = createLogger({ write: () => {} });
