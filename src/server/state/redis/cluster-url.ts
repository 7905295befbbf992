// The --store URL of a Redis Cluster: redis+cluster://[user:pass@]HOST:PORT,HOST:PORT (seed nodes; rediss+cluster:// for TLS).
import { ConfigError } from "../../../lib/errors.ts";

export interface ClusterUrl {
  /** Nodes asked for the cluster's layout at start (any one answering is enough; the others are learnt from it). */
  seeds: Array<{ host: string; port: number }>;
  username?: string;
  password?: string;
  tls: boolean;
}

/** Seed nodes one URL may name at most. */
const MAX_SEEDS = 16;

const SHAPE = /^(rediss?)\+cluster:\/\/(?:([^@/?#]*)@)?([^/?#]+)\/?$/;

export const isClusterUrl = (url: string) => /^rediss?\+cluster:\/\//.test(url);

const USAGE =
  "use redis+cluster://[user:pass@]HOST:PORT,HOST:PORT (rediss+cluster:// for TLS; a cluster has no database number)";

const decode = (part: string, what: string) => {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ConfigError(`the ${what} in the Cluster store URL is not valid percent-encoding`);
  }
};

/** One HOST:PORT or [IPV6]:PORT; the port defaults to 6379. */
function seed(raw: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/.exec(raw);
  const port = Number(match?.[3] ?? 6379);
  if (!match || port < 1 || port > 65535)
    throw new ConfigError(`${raw.slice(0, 100)} is not a cluster node's HOST:PORT; ${USAGE}`);
  return { host: match[1] ?? match[2]!, port };
}

/** Reads a Cluster store URL; throws ConfigError with one sentence (never quoting the password). */
export function parseClusterUrl(url: string): ClusterUrl {
  const match = SHAPE.exec(url);
  if (!match && /^rediss?\+cluster:\/\/[^/?#]+\/\d+$/.test(url))
    throw new ConfigError(`a Redis Cluster has one database (0): drop the /DB from the Cluster store URL; ${USAGE}`);
  if (!match) throw new ConfigError(`the Cluster store URL names no nodes; ${USAGE}`);
  const [, scheme, userinfo, hosts] = match;
  const list = hosts!.split(",").filter((h) => h !== "");
  if (list.length === 0 || list.length > MAX_SEEDS)
    throw new ConfigError(`a Cluster store URL names 1 to ${MAX_SEEDS} nodes; ${USAGE}`);
  const out: ClusterUrl = { seeds: list.map(seed), tls: scheme === "rediss" };
  if (userinfo) {
    const colon = userinfo.indexOf(":");
    const user = decode(colon < 0 ? userinfo : userinfo.slice(0, colon), "user name");
    if (user) out.username = user;
    if (colon >= 0) out.password = decode(userinfo.slice(colon + 1), "password");
  }
  return out;
}

/** The URL as logs may show it: the seed nodes, never a password. */
export function clusterWhere(url: string): string {
  const parsed = parseClusterUrl(url);
  const hosts = parsed.seeds
    .map((s) => (s.host.includes(":") ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`))
    .join(",");
  return `${parsed.tls ? "rediss" : "redis"}+cluster://${hosts}`;
}
