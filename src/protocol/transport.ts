// The transport seam: how one knock is made. The CLI client and the browser module use the same shape.

/** Where to knock. */
export interface KnockTarget {
  host: string;
  port: number;
  /**
   * The web origin to state in the knock's first bytes (an `Origin` header), as a browser's cors fetch or
   * WebSocket does: the service links a session of an origin only from knocks that carry it. A browser
   * transport ignores it (the browser sends its page's own); absent: none is sent.
   */
  origin?: string;
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

/** What a transport tells the schedule while a knock is under way. */
export interface KnockEvents {
  /** The connection is open (the service has it in its accept queue); the knock is still held. */
  landed?(): void;
}

/**
 * One way to knock. `knock` opens a connection, waits until the service closes it (it does so once it
 * knows who knocked) or `signal` aborts, and never rejects: a failed knock is a result. A transport
 * that can see its connection open calls `events.landed`, so the schedule need not wait for the close
 * before the next tuple; one that cannot (like a browser's fetch) just resolves.
 */
export interface KnockTransport {
  readonly name: string;
  knock(target: KnockTarget, signal: AbortSignal, events?: KnockEvents): Promise<KnockResult>;
}
