// Which ranges a service agrees to hold: the server names the range, but the user's computer sets the bounds.
import type { EphemeralRange } from "../lib/ephemeral-range.ts";
import type { PortRange } from "../lib/ports.ts";
import { FIRST_USER_PORT, rangeSize } from "../protocol/ports.ts";

export { DEFAULT_MAX_PORTS } from "../protocol/ports.ts";

export interface RangeBounds {
  /** Most ports the service holds. */
  maxPorts: number;
  /** This computer's ephemeral range: holding it would starve outgoing connections (EADDRNOTAVAIL). */
  ephemeral: EphemeralRange;
}

/**
 * Why a service refuses to hold `range`, in one sentence naming the range and the bound it breaks;
 * undefined when the range is within bounds. A hostile or compromised server would otherwise take the
 * user's loopback: 40000-59999 held 19,899 ports and 49 of 50 outgoing connects failed.
 */
export function rangeRefusal(range: PortRange, bounds: RangeBounds): string | undefined {
  const shown = `${range.start}-${range.end}`;
  if (range.start < FIRST_USER_PORT) return `the server's range ${shown} reaches below port ${FIRST_USER_PORT}`;
  const e = bounds.ephemeral;
  if (range.start <= e.end && range.end >= e.start) {
    return `the server's range ${shown} overlaps this computer's ephemeral ports ${e.start}-${e.end} (${e.source}), which outgoing connections need`;
  }
  const size = rangeSize(range);
  if (size > bounds.maxPorts)
    return `the server's range ${shown} has ${size} ports, more than the ${bounds.maxPorts} this service holds at most (--max-ports)`;
  return undefined;
}
