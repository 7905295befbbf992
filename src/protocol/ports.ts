// Which ports a knock code may use: browsers refuse some outright, and the OS hands others out as ephemeral ports.
import { BROWSER_REFUSED_PORTS, type PortRange } from "../lib/ports.ts";

/** Ephemeral (outgoing) port ranges by default: a range inside them collides with the OS's own choices. */
export const EPHEMERAL_RANGES = [
  { os: "Linux", start: 32768, end: 60999 },
  { os: "Windows", start: 49152, end: 65535 },
  { os: "macOS", start: 49152, end: 65535 },
] as const;

/** Ports below this are the system's: a service never binds them, so a server never draws codes there. */
export const FIRST_USER_PORT = 1024;

/**
 * Most ports a service holds unless its user raises --max-ports: a larger range from the server is
 * refused, so a server's range should stay within it (the default range is 64).
 */
export const DEFAULT_MAX_PORTS = 256;

/** Default range: 64 ports, no browser-refused port, below every ephemeral range. */
export const DEFAULT_RANGE: PortRange = { start: 29170, end: 29233 };

/** The number of ports in a range. */
export function rangeSize(range: PortRange): number {
  return range.end - range.start + 1;
}

/** The first browser-refused port inside the range, if any. */
export function refusedPortIn(range: PortRange): number | undefined {
  for (const port of BROWSER_REFUSED_PORTS) if (port >= range.start && port <= range.end) return port;
  return undefined;
}

/** The ephemeral ranges a range overlaps, for a warning. */
export function ephemeralOverlaps(range: PortRange): string[] {
  return EPHEMERAL_RANGES.filter((e) => range.start <= e.end && range.end >= e.start).map(
    (e) => `${e.os} ${e.start}-${e.end}`,
  );
}

/** Whether a port lies in the range. */
export function inRange(range: PortRange, port: number): boolean {
  return port >= range.start && port <= range.end;
}
