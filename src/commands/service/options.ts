// The options of `pkipc service` and the start checks it shares with `pkipc service install`.
import { hostname } from "node:os";
import { existsSync } from "node:fs";
import { isAbsolute } from "node:path";
import { ConfigError } from "../../lib/errors.ts";
import { DEFAULT_SERVER, serverOption } from "../options.ts";
import {
  duration,
  hostPort,
  httpUrl,
  integer,
  oneOf,
  portList,
  rate,
  type ResolvedOptions,
  text,
} from "../../lib/options.ts";
import type { ServiceCredentials } from "../../protocol/signing.ts";
import { createInstructionRunner } from "../../service/handlers/index.ts";
import { defaultStateDir } from "../../service/state-dir.ts";
import { readEnrollment } from "../../service/key-file.ts";
import { DEFAULT_BROWSERS } from "../../service/policy.ts";
import { DEFAULT_INFO_FIELDS, parseInfoFields } from "../../service/handlers/info.ts";
import { mergePrograms, parseHandlerPairs, readHandlersFile } from "../../service/handlers/program-config.ts";
import { requireSecureServer } from "../../service/secure-server.ts";
import { parseUsers, usersToServe } from "../../service/users.ts";
import { requireOwnDesktop } from "../../service/consent/index.ts";
import { DEFAULT_MAX_PORTS } from "../../service/range-bounds.ts";
import { defaultKeyFile, profileName, profileStateDir } from "../../service/profile.ts";

/** A comma-separated list of names. */
function names(raw: string): string[] {
  return raw
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);
}

/** The server's URL: https, or http on loopback only (the key and instructions must not travel in clear). */
function serverUrl(raw: string, name: string): URL {
  const url = httpUrl(raw, name);
  requireSecureServer(url);
  return url;
}

/** Web origins (scheme://host[:port]) and the word "none", comma-separated. */
function origins(raw: string, name: string): string[] {
  const list = names(raw);
  if (list.length === 0 || list.length > 64)
    throw new ConfigError(`${name} must list 1 to 64 origins (such as https://saas.example) or "none"`);
  return list.map((entry) => {
    if (entry === "none") return entry;
    let url: URL | undefined;
    try {
      url = new URL(entry);
    } catch {
      // reported below
    }
    if (!url || (url.protocol !== "https:" && url.protocol !== "http:") || url.origin !== entry.replace(/\/$/, "")) {
      throw new ConfigError(
        `${name}: "${entry}" is not a web origin such as https://saas.example (scheme and host, no path) or "none"`,
      );
    }
    return url.origin;
  });
}

/** Knocks only ever come from this machine, so the service never listens beyond loopback. */
function loopbackHost(raw: string, name: string): string {
  if (/^127(\.\d{1,3}){3}$/.test(raw) || raw === "::1") return raw;
  throw new ConfigError(`${name} must be a loopback address (127.0.0.0/8 or ::1), not "${raw}"`);
}

export const serviceOptions = {
  server: {
    description: `${serverOption.description} (https; http only on loopback); default: the server the key file was enrolled with, else ${DEFAULT_SERVER}`,
    env: serverOption.env,
    parse: serverUrl,
  },
  skip: {
    description: "Ports of the range not to bind (simulates ports held by others), P1,P2,...",
    env: "PKIPC_SKIP",
    default: "",
    parse: portList,
  },
  host: {
    description: "Loopback address to hold the range on",
    env: "PKIPC_SERVICE_HOST",
    default: "127.0.0.1",
    parse: loopbackHost,
  },
  idle: {
    description: "Override the server's idle gap before an incomplete burst is reported",
    env: "PKIPC_IDLE",
    parse: duration(10, 60_000),
  },
  profile: {
    description:
      "This product's own service (e.g. acme): its own key file (~/.config/pkipc/NAME/), state folder (a NAME folder in it) and autostart entry (pkipc-NAME)",
    env: "PKIPC_PROFILE",
    parse: profileName,
  },
  keyFile: {
    description:
      "This service's key (mode 0600; refused if others can read it); default ~/.config/pkipc/service-key.json, with --profile NAME ~/.config/pkipc/NAME/service-key.json",
    env: "PKIPC_KEY_FILE",
    parse: text,
  },
  enroll: {
    description: "Enroll first with this one-time token from the server's operator, writing the key file",
    env: "PKIPC_ENROLL_TOKEN",
    parse: text,
  },
  force: {
    description: "With --enroll: replace the key file that is there (the old enrollment is lost)",
    flag: true,
    parse: (raw: string) => raw === "true",
  },
  name: {
    description: "Name this service enrolls under",
    env: "PKIPC_SERVICE_NAME",
    default: hostname().slice(0, 128) || "pkipc service",
    parse: text,
  },
  allowProcesses: {
    description: "Process names that may link (browsers by default), comma-separated",
    env: "PKIPC_ALLOW_PROCESSES",
    default: DEFAULT_BROWSERS.join(","),
    parse: names,
  },
  allowInstructions: {
    description: "Instructions this service carries out, comma-separated; others are refused",
    env: "PKIPC_ALLOW_INSTRUCTIONS",
    default: "log",
    parse: names,
  },
  handler: {
    description:
      "A local program that carries out instruction NAME, NAME=/absolute/path (repeatable; a name given here is allowed without --allow-instructions)",
    env: "PKIPC_HANDLERS",
    multiple: true,
    parse: parseHandlerPairs,
  },
  handlersFile: {
    description: 'Handler programs from a JSON file {"handlers": {"NAME": "/absolute/path"}}',
    env: "PKIPC_HANDLERS_FILE",
    parse: readHandlersFile,
  },
  handlerTimeout: {
    description: "How long an instruction's handler may take; a program's process group is then killed",
    env: "PKIPC_HANDLER_TIMEOUT",
    default: "10s",
    parse: duration(100, 600_000),
  },
  keyDir: {
    description:
      "Folder the key instruction writes keys into, one folder per origin (created 0700); needed to allow key",
    env: "PKIPC_KEY_DIR",
    parse: text,
  },
  infoFields: {
    description: "Fields the info instruction may send, comma-separated",
    env: "PKIPC_INFO_FIELDS",
    default: DEFAULT_INFO_FIELDS.join(","),
    parse: parseInfoFields,
  },
  users: {
    description:
      "Users whose programs may link, names or uids, comma-separated (default: the user running the service; required as root)",
    env: "PKIPC_USERS",
    parse: parseUsers,
  },
  allowOrigins: {
    description:
      'Web origins whose sessions may link, comma-separated; "none" admits sessions without an origin (default: any)',
    env: "PKIPC_ALLOW_ORIGINS",
    multiple: true,
    parse: origins,
  },
  confirm: {
    description:
      "Before each link: log it, ask on the terminal, or (desktop) ask with the desktop's dialog for sites not yet allowed always, and for --ask-for instructions",
    env: "PKIPC_CONFIRM",
    default: "log",
    parse: oneOf(["log", "ask", "desktop"] as const),
  },
  askFor: {
    description:
      "With --confirm desktop: instructions asked about every time, even for an allowed site, comma-separated",
    env: "PKIPC_ASK_FOR",
    parse: names,
  },
  consentTimeout: {
    description: "How long a desktop question waits for an answer; no answer denies",
    env: "PKIPC_CONSENT_TIMEOUT",
    default: "20s",
    parse: duration(1000, 120_000),
  },
  metricsListen: {
    description: "Serve GET /metrics (Prometheus) on this HOST:PORT; unset: no metrics",
    env: "PKIPC_SERVICE_METRICS_LISTEN",
    parse: hostPort,
  },
  processReportRate: {
    description:
      "Reports one process may cause per second for each origin its knocks carry, RATE[,BURST]; 0 = no limit",
    env: "PKIPC_PROCESS_REPORT_RATE",
    default: "0.5,6",
    parse: rate,
  },
  maxPorts: {
    description:
      "Most ports the service holds: a server's range with more (or below 1024, or inside this computer's ephemeral range) is refused",
    env: "PKIPC_MAX_PORTS",
    default: String(DEFAULT_MAX_PORTS),
    parse: integer(1, 65_535),
  },
  stateDir: {
    description:
      "Folder for the audit file (audit.jsonl) and the running service's state (service.json), created 0700; default ~/.local/state/pkipc (macOS ~/Library/Application Support/pkipc, Windows %LOCALAPPDATA%\\pkipc)",
    env: "PKIPC_STATE_DIR",
    parse: text,
  },
  configRefresh: {
    description: "How often to check whether the server's range, code shape or strategy changed (then rebind)",
    env: "PKIPC_CONFIG_REFRESH",
    default: "30s",
    parse: duration(100, 3_600_000),
  },
} as const;

type ServiceArgs = ResolvedOptions<typeof serviceOptions>;

/** What `service` and `service install` both check before running: resolved paths, the server, the key. */
export interface ServicePlan {
  server: URL;
  keyFile: string;
  keyDir?: string;
  stateDir: string;
  credentials?: ServiceCredentials;
}

/** A path as given (~ is this user's home), which must be absolute: a service started at login has another working folder. */
export function absolutePath(raw: string, home: string, label: string): string {
  const path = raw.replace(/^~(?=[\\/]|$)/, home);
  if (!isAbsolute(path))
    throw new ConfigError(
      `${label} must be an absolute path (a service started at login runs in another folder), not "${raw}"`,
    );
  return path;
}

/** The key file: --key-file as given (absolute, or starting with ~), else the profile's default. */
export function keyFilePath(given: string | undefined, profile: string | undefined, home: string): string {
  return given ? absolutePath(given, home, "--key-file") : defaultKeyFile(profile).replace(/^~(?=[\\/]|$)/, home);
}

const sameServer = (a: string, b: string) => new URL(a).href.replace(/\/$/, "") === new URL(b).href.replace(/\/$/, "");

/**
 * The service's start checks, run by `pkipc service` and by `pkipc service install` alike, so install
 * refuses with the same sentence what the service would refuse: root without --users, a relative
 * --key-dir or --state-dir, instructions nothing handles, a missing or unsafe key file, a key from
 * another server, and enrolling over an existing key without --force.
 */
export function planService(o: ServiceArgs, env: Record<string, string | undefined>): ServicePlan {
  usersToServe(o.users, process.getuid?.()); // refuse a root service without --users before spending an enrollment token
  if (o.confirm === "desktop") requireOwnDesktop(o.users, process.getuid?.());
  // Windows has no HOME: its home folder is USERPROFILE
  const home = env.HOME ?? env.USERPROFILE ?? "~";
  const keyFile = keyFilePath(o.keyFile, o.profile, home);
  const keyDir = o.keyDir ? absolutePath(o.keyDir, home, "--key-dir") : undefined;
  const stateDir = o.stateDir
    ? absolutePath(o.stateDir, home, "--state-dir")
    : profileStateDir(defaultStateDir(env, process.platform, home), o.profile);
  // The handlers' own checks (a name nothing handles, key without --key-dir) before anything else is spent.
  createInstructionRunner({
    allow: o.allowInstructions,
    programs: mergePrograms(o.handler ?? {}, o.handlersFile ?? {}),
    keyDir,
    infoFields: o.infoFields,
  });
  if (o.enroll) {
    if (existsSync(keyFile) && !o.force) {
      throw new ConfigError(
        `${keyFile} already holds this service's key; enrolling again would replace it: add --force, or give another --key-file`,
      );
    }
    return { server: o.server ?? new URL(DEFAULT_SERVER), keyFile, keyDir, stateDir };
  }
  const enrollment = readEnrollment(keyFile);
  if (o.server && enrollment.server && !sameServer(o.server.href, enrollment.server)) {
    throw new ConfigError(
      `the key in ${keyFile} was enrolled with ${enrollment.server}, not ${o.server.href} (--server): use that server, or enroll with this one (--enroll TOKEN --force, or another --key-file)`,
    );
  }
  const server =
    o.server ??
    (enrollment.server ? serverUrl(enrollment.server, `the server in ${keyFile}`) : new URL(DEFAULT_SERVER));
  return { server, keyFile, keyDir, stateDir, credentials: enrollment.credentials };
}
