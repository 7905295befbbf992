// The --store URL of a Redis Sentinel deployment: redis+sentinel://[user:pass@]HOST:PORT,HOST:PORT/MASTER[/DB][?options].
import { ConfigError } from "../../../lib/errors.ts";

export interface SentinelAddress {
  host: string;
  port: number;
}

export interface SentinelUrl {
  /** The sentinels asked where the primary is (any one answering is enough). */
  sentinels: SentinelAddress[];
  /** The master name the sentinels monitor (`sentinel monitor NAME ...`). */
  name: string;
  db: number;
  /** Credentials of the primary and replicas (the URL's user:pass). */
  username?: string;
  password?: string;
  /** Credentials of the sentinels, when they differ (?sentinel-user=...&sentinel-password=...). */
  sentinelUsername?: string;
  sentinelPassword?: string;
  /** rediss+sentinel://: TLS to the sentinels and to the primary. */
  tls: boolean;
}

/** Sentinels one URL may name at most: a deployment has a handful. */
const MAX_SENTINELS = 16;

const SHAPE = /^(rediss?)\+sentinel:\/\/(?:([^@/?#]*)@)?([^/?#]+)\/([^/?#]+)(?:\/([^/?#]*))?(?:\?([^#]*))?$/;

export const isSentinelUrl = (url: string) => /^rediss?\+sentinel:\/\//.test(url);

const USAGE = "use redis+sentinel://[user:pass@]HOST:PORT,HOST:PORT/MASTER[/DB] (rediss+sentinel:// for TLS)";

const decode = (part: string, what: string) => {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ConfigError(`the ${what} in the Sentinel store URL is not valid percent-encoding`);
  }
};

/** One HOST:PORT or [IPV6]:PORT; the port defaults to 26379, Sentinel's own. */
function address(raw: string): SentinelAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/.exec(raw);
  const port = Number(match?.[3] ?? 26379);
  if (!match || port < 1 || port > 65535)
    throw new ConfigError(`${raw.slice(0, 100)} is not a sentinel's HOST:PORT; ${USAGE}`);
  return { host: match[1] ?? match[2]!, port };
}

/** Reads a Sentinel store URL; throws ConfigError with one sentence (never quoting the password). */
export function parseSentinelUrl(url: string): SentinelUrl {
  const match = SHAPE.exec(url);
  if (!match) throw new ConfigError(`the Sentinel store URL names no sentinels or no master name; ${USAGE}`);
  const [, scheme, userinfo, hosts, name, db, query] = match;
  const list = hosts!.split(",").filter((h) => h !== "");
  if (list.length === 0 || list.length > MAX_SENTINELS)
    throw new ConfigError(`a Sentinel store URL names 1 to ${MAX_SENTINELS} sentinels; ${USAGE}`);
  if (db !== undefined && !/^\d{1,2}$/.test(db))
    throw new ConfigError(`the Redis database in a Sentinel store URL must be a number (/0 to /15); ${USAGE}`);
  const out: SentinelUrl = {
    sentinels: list.map(address),
    name: decode(name!, "master name"),
    db: Number(db ?? 0),
    tls: scheme === "rediss",
  };
  if (userinfo) {
    const colon = userinfo.indexOf(":");
    const user = decode(colon < 0 ? userinfo : userinfo.slice(0, colon), "user name");
    if (user) out.username = user;
    if (colon >= 0) out.password = decode(userinfo.slice(colon + 1), "password");
  }
  for (const [k, v] of new URLSearchParams(query ?? "")) {
    if (k === "sentinel-user") out.sentinelUsername = v;
    else if (k === "sentinel-password") out.sentinelPassword = v;
    else
      throw new ConfigError(
        `unknown option ${k.slice(0, 50)} in the Sentinel store URL (known: sentinel-user, sentinel-password)`,
      );
  }
  return out;
}

/** The URL as logs may show it: sentinels and master name, never a password. */
export function sentinelWhere(url: string): string {
  const parsed = parseSentinelUrl(url);
  const hosts = parsed.sentinels
    .map((s) => (s.host.includes(":") ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`))
    .join(",");
  return `${parsed.tls ? "rediss" : "redis"}+sentinel://${hosts}/${encodeURIComponent(parsed.name)}${parsed.db ? `/${parsed.db}` : ""}`;
}
