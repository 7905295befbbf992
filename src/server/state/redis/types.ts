// The Redis connection every Redis-backed seam shares, as types: their own file, so connection.ts, sentinel.ts and
// cluster.ts (which each build one) and the scripts import them without a circle.

export interface RedisOptions {
  /**
   * redis://[user:pass@]HOST:PORT[/DB] or rediss://..., redis+sentinel://[user:pass@]HOST:PORT,.../MASTER[/DB] (see
   * sentinel-url.ts), or redis+cluster://[user:pass@]HOST:PORT,... (see cluster-url.ts)
   */
  url: string;
  /** Deadline of one command, in ms; past it the request fails with 503. Default 2,000. */
  commandTimeoutMs?: number;
  /** Deadline of one connection attempt, in ms. Default 2,000. */
  connectTimeoutMs?: number;
  /** Prefix of every key, so one Redis can hold other data beside pkipc's. Default "pkipc:". */
  prefix?: string;
}

export interface RedisConnection {
  /** The URL without its password, for logs and /healthz. */
  readonly where: string;
  readonly prefix: string;
  /** A Redis Cluster: a script's keys must share one hash slot (see keyspace), and pub/sub is sharded. */
  readonly cluster: boolean;
  /** Runs one command; a lost or slow Redis becomes StoreUnavailableError (503), a refused command a plain Error. */
  command(name: string, args: Array<string | number>): Promise<unknown>;
  /**
   * Runs a command that names no key (WAIT, ROLE) where the writes to `key` go: in a Cluster, the primary of its
   * slot; otherwise the one primary, as command does.
   */
  commandAt(key: string, name: string, args: Array<string | number>): Promise<unknown>;
  /** A Lua script (scripts/) to call: it runs atomically on the server, by EVALSHA, loaded again after a Redis restart. */
  script(script: LuaScript): Script;
  /** Calls `onMessage` for every message on `channel`, resubscribing after each reconnect. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<void>;
  /** Resolves once connected, or after `timeoutMs` (then requests get 503 until it connects). */
  ready(timeoutMs: number): Promise<boolean>;
  /** Throws StoreUnavailableError unless Redis answers PING within the command deadline. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Runs a script: its keys, then its arguments. */
export type Script = (keys: string[], args: Array<string | number>) => Promise<unknown>;

/** A script and the number of keys it takes; "varies" for those whose callers say it (charges, batches, codes). */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly keys: number | "varies";
  /** Its SHA-1, as EVALSHA names it. */
  readonly sha: string;
}
