// The Redis connection every Redis-backed seam shares, as a type: its own file, so connection.ts and sentinel.ts (which each build one) import it without a circle.

export interface RedisOptions {
  /** redis://[user:pass@]HOST:PORT[/DB] or rediss://..., or redis+sentinel://[user:pass@]HOST:PORT,.../MASTER[/DB] (see sentinel-url.ts) */
  url: string;
  /** Deadline of one command, in ms; past it the request fails with 503. Default 2,000. */
  commandTimeoutMs?: number;
  /** Deadline of one connection attempt, in ms. Default 2,000. */
  connectTimeoutMs?: number;
  /** Prefix of every key, so one Redis can hold other data beside pkipc's. Default "pkipc:". */
  prefix?: string;
}

/** A Lua script with its keys and arguments; runs by EVALSHA, loaded again after a Redis restart. */
export type Script = (keys: string[], args: Array<string | number>) => Promise<unknown>;

export interface RedisConnection {
  /** The URL without its password, for logs and /healthz. */
  readonly where: string;
  readonly prefix: string;
  /** Runs one command; a lost or slow Redis becomes StoreUnavailableError (503), a refused command a plain Error. */
  command(name: string, args: Array<string | number>): Promise<unknown>;
  /** Defines a Lua script once; calling it runs it atomically on the server. */
  script(lua: string): Script;
  /** Calls `onMessage` for every message on `channel`, resubscribing after each reconnect. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<void>;
  /** Resolves once connected, or after `timeoutMs` (then requests get 503 until it connects). */
  ready(timeoutMs: number): Promise<boolean>;
  /** Throws StoreUnavailableError unless Redis answers PING within the command deadline. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
