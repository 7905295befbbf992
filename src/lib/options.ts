// The one config loader: each role declares its options once; flags win over environment over defaults.
import type { ArgsDef } from "citty";
import { ConfigError } from "./errors.ts";

/** One option: how to read it, where else it may come from, and its default (as the user would type it). */
export interface OptionSpec<V> {
  description: string;
  /** Environment variable that may set it. */
  env?: string;
  /** Default, as text; parsed like user input, so the help shows exactly what applies. */
  default?: string;
  /** A flag without a value (--json). */
  flag?: boolean;
  /** May be given more than once: the values are joined with "," before parse (so parse reads a list). */
  multiple?: boolean;
  parse(raw: string, name: string): V;
}

export type OptionSpecs = Record<string, OptionSpec<unknown>>;
export type ResolvedOptions<S extends OptionSpecs> = { [K in keyof S]: S[K] extends OptionSpec<infer V> ? V : never };

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Longest default the help shows in full; longer lists show their first items and how many there are. */
export const HELP_DEFAULT_WIDTH = 40;

/** A default as the help shows it: empty ones not at all, long lists cut to their first items. */
export function helpDefault(value: string | undefined): string {
  if (!value) return "";
  if (value.length <= HELP_DEFAULT_WIDTH) return `default ${value}`;
  const items = value.split(",");
  let shown = "";
  for (const item of items) {
    if (`${shown},${item}`.length > HELP_DEFAULT_WIDTH - 4) break;
    shown = shown ? `${shown},${item}` : item;
  }
  return items.length > 1
    ? `default ${shown},... (${items.length} in all)`
    : `default ${value.slice(0, HELP_DEFAULT_WIDTH - 3)}...`;
}

/** citty argument definitions whose help names the default and the environment variable. */
export function toCittyArgs(specs: OptionSpecs): ArgsDef {
  const args: ArgsDef = {};
  for (const [name, spec] of Object.entries(specs)) {
    const extra = [spec.flag ? "" : helpDefault(spec.default), spec.env ? `env ${spec.env}` : ""]
      .filter(Boolean)
      .join("; ");
    args[kebab(name)] = {
      type: spec.flag ? "boolean" : "string",
      description: extra ? `${spec.description} (${extra})` : spec.description,
    };
  }
  return args;
}

/**
 * Resolves every option: flag, then environment, then default. Throws ConfigError naming the option
 * for a bad value or an unknown flag.
 */
export function resolveOptions<S extends OptionSpecs>(
  specs: S,
  args: Record<string, unknown>,
  rawArgs: readonly string[],
  env: Record<string, string | undefined>,
  /** How many arguments that are not options the command takes (an id, a name); more is refused, not ignored. */
  positionals = 0,
): ResolvedOptions<S> {
  const stray = ((args._ ?? []) as unknown[]).map(String);
  if (stray.length > positionals)
    throw new ConfigError(`unexpected argument "${stray[positionals]!.slice(0, 100)}"; see --help`);
  const known = new Set(["help", "h", ...Object.keys(specs).flatMap((n) => [n, kebab(n)])]);
  for (const raw of rawArgs) {
    const match = /^--?(?:no-)?([^=]+)/.exec(raw);
    if (raw.startsWith("-") && match && !known.has(match[1]!) && !/^-\d/.test(raw)) {
      throw new ConfigError(`unknown option ${raw.split("=")[0]}; see --help`);
    }
  }
  // An option given twice kept only its last value, without a word (--instruction A --instruction B queued B).
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.multiple) continue;
    const flags = [...new Set([name, kebab(name)])].map((n) => `--${n}`);
    const times = rawArgs.filter((a) => flags.some((f) => a === f || a.startsWith(`${f}=`))).length;
    if (times > 1) throw new ConfigError(`--${kebab(name)} was given ${times} times; give it once`);
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const given = spec.multiple ? repeated(rawArgs, [name, kebab(name)]) : (args[name] ?? args[kebab(name)]);
    const label = `--${kebab(name)}`;
    if (spec.flag) {
      const fromEnv = spec.env ? env[spec.env] : undefined;
      out[name] = given === true || (given === undefined && fromEnv !== undefined && parseBoolean(fromEnv, spec.env!));
      continue;
    }
    if (given === true || given === false) throw new ConfigError(`${label} needs a value`);
    const fromEnv = spec.env ? env[spec.env] : undefined;
    const raw = typeof given === "string" ? given : fromEnv !== undefined && fromEnv !== "" ? fromEnv : spec.default;
    const source = typeof given === "string" ? label : fromEnv ? spec.env! : `${label} default`;
    out[name] = raw === undefined ? undefined : spec.parse(raw, source);
  }
  return out as ResolvedOptions<S>;
}

/** Every value of a flag given more than once (--x A --x=B), joined with ","; undefined when it is not given. */
function repeated(rawArgs: readonly string[], names: string[]): string | true | undefined {
  const values: string[] = [];
  let bare = false;
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    for (const flag of [...new Set(names)].map((n) => `--${n}`)) {
      if (arg === flag) {
        const next = rawArgs[i + 1];
        if (next === undefined || next.startsWith("--")) bare = true;
        else values.push(next), i++;
      } else if (arg.startsWith(`${flag}=`)) values.push(arg.slice(flag.length + 1));
    }
  }
  return values.length ? values.join(",") : bare ? true : undefined;
}

export function parseBoolean(raw: string, name: string): boolean {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${name} must be true or false, not "${raw}"`);
}

/** Milliseconds as `duration` reads them back: 60m, 30s or 250ms (seconds up to two minutes, for the help's sake). */
export function durationText(ms: number): string {
  if (ms >= 120_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** A rate as `rate` reads it back: RATE,BURST. */
export function rateText(spec: { perSecond: number; burst: number }): string {
  return `${spec.perSecond},${spec.burst}`;
}

/** A whole number within [min, max]. */
export function integer(min: number, max: number) {
  return (raw: string, name: string): number => {
    if (!/^\d{1,15}$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number, not "${raw}"`);
    const value = Number(raw);
    if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, not ${value}`);
    return value;
  };
}

/** Milliseconds per unit a duration may name. */
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration such as 250ms, 30s, 2m or 1h, in milliseconds, within [min, max] ms. */
export function duration(min: number, max: number) {
  return (raw: string, name: string): number => {
    const match = /^(\d{1,9})(ms|s|m|h)?$/.exec(raw.trim());
    if (!match) throw new ConfigError(`${name} must be a duration such as 500ms, 30s, 2m or 1h, not "${raw}"`);
    const value = Number(match[1]) * DURATION_UNITS[match[2] ?? "ms"]!;
    if (value < min || value > max)
      throw new ConfigError(`${name} must be between ${min} ms and ${max} ms, not ${value} ms`);
    return value;
  };
}

/** One of a fixed set of names. */
export function oneOf<const N extends string>(names: readonly N[]) {
  return (raw: string, name: string): N => {
    if (!(names as readonly string[]).includes(raw))
      throw new ConfigError(`${name} must be one of ${names.join(", ")}, not "${raw}"`);
    return raw as N;
  };
}

function port(raw: string, name: string): number {
  return integer(1, 65535)(raw, name);
}

/** HOST:PORT, with [::1]:PORT for IPv6; port 0 asks the OS for a free one. */
export function hostPort(raw: string, name: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(raw.trim());
  if (!match) throw new ConfigError(`${name} must be HOST:PORT (for example 127.0.0.1:7870), not "${raw}"`);
  const value = Number(match[3]);
  if (value > 65535) throw new ConfigError(`${name}: port ${value} is above 65535`);
  return { host: match[1] ?? match[2]!, port: value };
}

/** START-END, inclusive. */
export function portRange(raw: string, name: string): { start: number; end: number } {
  const match = /^(\d{1,5})-(\d{1,5})$/.exec(raw.trim());
  if (!match) throw new ConfigError(`${name} must be START-END (for example 29170-29233), not "${raw}"`);
  const start = port(match[1]!, name);
  const end = port(match[2]!, name);
  if (start > end) throw new ConfigError(`${name}: the start ${start} is above the end ${end}`);
  return { start, end };
}

/** A comma-separated list of ports (may be empty). */
export function portList(raw: string, name: string): number[] {
  if (raw.trim() === "") return [];
  const ports = raw.split(",").map((p) => port(p.trim(), name));
  if (ports.length > 65535) throw new ConfigError(`${name} lists too many ports`);
  return [...new Set(ports)];
}

/** TUPLESxPORTS, such as 3x4. */
export function codeShape(raw: string, name: string): { tuples: number; portsPerTuple: number } {
  const match = /^(\d{1,2})x(\d{1,2})$/.exec(raw.trim());
  if (!match) throw new ConfigError(`${name} must be TUPLESxPORTS (for example 3x4), not "${raw}"`);
  const tuples = integer(1, 16)(match[1]!, `${name} tuples`);
  const portsPerTuple = integer(1, 16)(match[2]!, `${name} ports per tuple`);
  return { tuples, portsPerTuple };
}

/** An http(s) URL. */
export function httpUrl(raw: string, name: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a URL such as http://127.0.0.1:7870, not "${raw}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new ConfigError(`${name} must be an http or https URL`);
  return url;
}

/** RATE[,BURST]: requests per second and how many may come at once (default 10 x RATE); 0 turns the limit off. */
export function rate(raw: string, name: string): { perSecond: number; burst: number } {
  const match = /^(\d{1,6}(?:\.\d{1,3})?)(?:\/s)?(?:,(\d{1,7}))?$/.exec(raw.trim());
  if (!match) throw new ConfigError(`${name} must be RATE[,BURST] per second (for example 2,20), not "${raw}"`);
  const perSecond = Number(match[1]);
  const burst = match[2] === undefined ? Math.max(1, Math.ceil(perSecond * 10)) : Number(match[2]);
  if (perSecond > 0 && burst < 1) throw new ConfigError(`${name}: the burst must be at least 1`);
  return { perSecond, burst };
}

/** Text as given. */
export function text(raw: string): string {
  return raw;
}

/**
 * A comma-separated list of web origins (scheme://host[:port], as browsers send them in the Origin
 * header: no path, no trailing slash); may be empty.
 */
export function originList(raw: string, name: string): string[] {
  const origins = raw
    .split(",")
    .map((o) => o.trim())
    .filter(Boolean);
  for (const origin of origins) {
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || url.origin !== origin) {
      throw new ConfigError(
        `${name}: "${origin}" is not a web origin such as https://saas.example (scheme, host and port only, no path or trailing slash)`,
      );
    }
  }
  if (origins.length > 64) throw new ConfigError(`${name} lists more than 64 origins`);
  return [...new Set(origins)];
}
