// Built-in `info`: the system settings a SaaS asks for when it enrolls a device, only the fields the local configuration lets out.
import { openSync, readSync, closeSync } from "node:fs";
import { arch, hostname, release, type, userInfo } from "node:os";
import { ConfigError } from "../../lib/errors.ts";
import type { ProcessInfo } from "../../protocol/schemas.ts";
import { VERSION } from "../../version.ts";
import type { InstructionHandler } from "./types.ts";

/** Every field `info` knows. */
export const INFO_FIELDS = [
  "os",
  "kernel",
  "arch",
  "hostname",
  "locale",
  "timeZone",
  "pkipcVersion",
  "browser",
  "browserVersion",
  "user",
] as const;
export type InfoField = (typeof INFO_FIELDS)[number];

/**
 * Sent unless the local configuration says otherwise: what a SaaS needs to pick a download or a
 * setting, and nothing that names the person or the machine (hostname and user are opt-in).
 */
export const DEFAULT_INFO_FIELDS: readonly InfoField[] = [
  "os",
  "kernel",
  "arch",
  "locale",
  "timeZone",
  "pkipcVersion",
  "browser",
  "browserVersion",
];

/** Parses a comma-separated list of fields, refusing unknown ones with the list of known ones. */
export function parseInfoFields(raw: string, label = "--info-fields"): InfoField[] {
  const fields = raw
    .split(",")
    .map((f) => f.trim())
    .filter(Boolean);
  for (const field of fields) {
    if (!(INFO_FIELDS as readonly string[]).includes(field))
      throw new ConfigError(`${label}: unknown field "${field}" (known: ${INFO_FIELDS.join(", ")})`);
  }
  return [...new Set(fields)] as InfoField[];
}

/** A value of at most 160 characters without control characters, so every field, JSON-escaped, fits one answer. */
const clip = (value: string) => value.replace(/[\u0000-\u001f\u007f]/g, "").slice(0, 160);

let osName: string | undefined;
/** The distribution's PRETTY_NAME from the first 64 KiB of /etc/os-release on Linux; the kernel's name elsewhere. Read once. */
function operatingSystem(): string {
  if (osName !== undefined) return osName;
  osName = type();
  if (process.platform === "linux") {
    try {
      const fd = openSync("/etc/os-release", "r");
      const buffer = Buffer.alloc(65_536);
      const size = readSync(fd, buffer, 0, buffer.length, 0);
      closeSync(fd);
      const match = /^PRETTY_NAME=("?)(.*)\1$/m.exec(buffer.subarray(0, size).toString("utf8"));
      if (match?.[2]) osName = match[2];
    } catch {
      // no os-release: the kernel's name will do
    }
  } else if (process.platform === "darwin") osName = "macOS";
  else if (process.platform === "win32") osName = "Windows";
  return osName;
}

function value(field: InfoField, process: ProcessInfo): string {
  switch (field) {
    case "os":
      return operatingSystem();
    case "kernel":
      return release();
    case "arch":
      return arch();
    case "hostname":
      return hostname();
    case "locale":
      return Intl.DateTimeFormat().resolvedOptions().locale;
    case "timeZone":
      return Intl.DateTimeFormat().resolvedOptions().timeZone;
    case "pkipcVersion":
      return VERSION;
    case "browser":
      return process.browser?.name ?? process.name;
    case "browserVersion":
      return process.browser?.version ?? "";
    case "user":
      // The user whose browser linked, as the service attributed it; the service's own user if unnamed.
      return process.user || userInfo().username;
  }
}

export interface InfoHandlerOptions {
  /** The fields that may be sent. Default DEFAULT_INFO_FIELDS. */
  fields?: readonly InfoField[];
}

/**
 * `info`: answers a JSON object of the allowed fields. An optional arg `fields` (comma-separated) asks
 * for fewer; a field asked for but not allowed is left out and named in `withheld`.
 */
export function infoHandler(options: InfoHandlerOptions = {}): InstructionHandler {
  const allowed = options.fields ?? DEFAULT_INFO_FIELDS;
  return {
    name: "info",
    async handle(instruction, { process }) {
      const asked =
        typeof instruction.args.fields === "string"
          ? instruction.args.fields
              .split(",")
              .map((f) => f.trim())
              .filter(Boolean)
              .slice(0, INFO_FIELDS.length * 2)
          : [...allowed];
      const answer: Record<string, string | string[]> = {};
      const withheld: string[] = [];
      for (const field of asked) {
        if ((allowed as readonly string[]).includes(field)) answer[field] = clip(value(field as InfoField, process));
        else if ((INFO_FIELDS as readonly string[]).includes(field)) withheld.push(field);
      }
      if (withheld.length) answer.withheld = [...new Set(withheld)];
      return { ok: true, result: JSON.stringify(answer) };
    },
  };
}
