// The bind-failure seam: how a service that could not bind every port still gets its knocks matched.
import type { Claim } from "./schemas.ts";

/** Limits the server publishes in its config; both sides apply them. */
export interface ClaimLimits {
  /** Ports in a code (tuples x ports per tuple). */
  knocks: number;
  /** At most this many ports of a code may be filled in from failed ports. */
  maxMissing: number;
  /** At most this many failed ports may be claimed. */
  maxFailed: number;
  /** enumerate: at most this many completions in one report. */
  maxCompletions: number;
}

/**
 * One strategy, used on both sides: the service turns what it saw into a claim, the server checks
 * candidate codes against it. A code fits when it holds every observed port and nothing the service
 * could have seen but did not.
 */
export interface BindFailureStrategy {
  readonly name: Claim["strategy"];
  /** Service side: the claim for the ports seen from one process, given the ports it failed to bind. */
  claim(observed: readonly number[], failed: readonly number[], limits: ClaimLimits): Claim;
  /** Server side: every port the claim says was knocked (the store looks up codes holding all of them). */
  observed(claim: Claim): number[];
  /** Server side: the failed ports the claim fills in from, for the bound on them. */
  failed(claim: Claim): number[];
  /** Server side: whether a live code (its set of ports) fits the claim. */
  fits(claim: Claim, code: ReadonlySet<number>): boolean;
}
