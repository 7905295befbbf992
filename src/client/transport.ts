// The transport seam: how one knock is made. The CLI client and the browser module use the same shape.

/** Where to knock. */
export interface KnockTarget {
  host: string;
  port: number;
}

/** What one knock did. */
export interface KnockResult {
  port: number;
  /** true: a connection was made; false: refused or failed before connecting; undefined: the transport cannot tell (like a browser). */
  landed: boolean | undefined;
  /** Why it did not land, when known. */
  error?: string;
  ms: number;
}

/**
 * One way to knock. `knock` opens a connection, waits until the service closes it (it does so once it
 * knows who knocked) or `signal` aborts, and never rejects: a failed knock is a result.
 */
export interface KnockTransport {
  readonly name: string;
  knock(target: KnockTarget, signal: AbortSignal): Promise<KnockResult>;
}
