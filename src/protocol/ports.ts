// Which ports a knock code may use: browsers refuse some outright, and the OS hands others out as ephemeral ports.

/** Ports the Fetch standard forbids: a browser never even connects to them (BRIEF section 2). */
const BAD_PORT_LIST = [
  0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103,
  104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513,
  514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720,
  1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697,
  10080,
];
export const BROWSER_REFUSED_PORTS: ReadonlySet<number> = new Set(BAD_PORT_LIST);

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

export interface PortRange {
  start: number;
  end: number;
}

/** Default range: 64 ports, no browser-refused port, below every ephemeral range. */
export const DEFAULT_RANGE: PortRange = { start: 29170, end: 29233 };

/** The number of ports in a range. */
export function rangeSize(range: PortRange): number {
  return range.end - range.start + 1;
}

/** The first browser-refused port inside the range, if any. */
export function refusedPortIn(range: PortRange): number | undefined {
  for (const port of BAD_PORT_LIST) if (port >= range.start && port <= range.end) return port;
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
