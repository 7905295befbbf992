// The attribution seam: given an accepted loopback connection, name the local process that made it.
import type { ProcessInfo } from "../../protocol/schemas.ts";

/** The process that made a connection: the report schema's type, so there is one definition of it. */
export type { ProcessInfo };

/** The four addresses of an accepted loopback connection, as the listener sees them. */
export interface KnockSocket {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

/**
 * Finds the process behind an accepted connection. Call it as soon as the connection is accepted and
 * keep the socket open until it settles: once the peer closes, its process can no longer be found.
 */
export interface Attributor {
  readonly name: string;
  /** Resolves null when the process cannot be found (the peer closed first, another network namespace, no permission). */
  attribute(socket: KnockSocket): Promise<ProcessInfo | null>;
}

/** Names the browser a knocking process belongs to (its main process, name, version), without starting a process. */
export interface BrowserIdentifier {
  /** Starts identifying as soon as a knock is attributed, so the report does not wait for it. */
  warm(process: ProcessInfo): void;
  /** The process with `browser` filled in when it belongs to a recognised browser. */
  identify(process: ProcessInfo): Promise<ProcessInfo>;
}
