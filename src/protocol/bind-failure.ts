// The bind-failure seam: how a service that could not bind every port still gets its knocks matched.
import { TooManyCompletionsError } from "../lib/errors.ts";
import { codeBits } from "./code.ts";
import type { Claim } from "./schemas.ts";

/** Limits the server publishes in its config; both sides apply them. */
export interface ClaimLimits {
  /** Ports in a code (tuples x ports per tuple). */
  knocks: number;
  /** At most this many ports of a code may be filled in from failed ports. */
  maxMissing: number;
  /** At most this many failed ports may be claimed. */
  maxFailed: number;
  /** At most this many codes one report may stand for (enumerate: the completions it sends). */
  maxCompletions: number;
}

/**
 * One strategy, used on both sides: the service turns what it saw into a claim, the server checks
 * candidate codes against it. A code fits when it holds every observed port and nothing the service
 * could have seen but did not.
 */
export interface BindFailureStrategy {
  readonly name: Claim["strategy"];
  /**
   * Whether a claim names the failed ports even when every knock was seen (server-match does; enumerate
   * then sends only what it saw): the server's --max-failed bounds such a claim whatever the code.
   */
  readonly claimsFailedWhenComplete: boolean;
  /** Service side: the claim for the ports seen from one process, given the ports it failed to bind. */
  claim(observed: readonly number[], failed: readonly number[], limits: ClaimLimits): Claim;
  /**
   * Server side, before anything else reads the claim: throws TooManyCompletionsError when the claim is
   * larger than `limits` allow, so the server never walks an oversized one. Absent: nothing to bound
   * beyond the schema's lengths.
   */
  admit?(claim: Claim, limits: ClaimLimits): void;
  /** Server side: every port the claim says was knocked. */
  observed(claim: Claim): number[];
  /** Server side: the failed ports the claim fills in from, for the bound on them. */
  failed(claim: Claim): number[];
  /**
   * Server side: every code that fits the claim, each its ports sorted, none twice: the store looks each up
   * exactly. More than `limits.maxCompletions` throws TooManyCompletionsError.
   */
  codes(claim: Claim, limits: ClaimLimits): number[][];
  /** Server side: whether a live code (its set of ports) fits the claim. */
  fits(claim: Claim, code: ReadonlySet<number>): boolean;
}

/** The ports seen, each once, and the failed ports that could complete them (not seen), each once; both sorted. */
export function seenAndFailed(
  observed: readonly number[],
  failed: readonly number[],
): { seen: number[]; candidates: number[] } {
  const seen = new Set(observed);
  return {
    seen: [...seen].sort((a, b) => a - b),
    candidates: [...new Set(failed)].filter((p) => !seen.has(p)).sort((a, b) => a - b),
  };
}

/** Every k-subset of `items`, in lexicographic order of indexes; the caller bounds the count first. */
export function* subsets<T>(items: readonly T[], k: number): Generator<T[]> {
  if (k < 0 || k > items.length) return;
  const index = Array.from({ length: k }, (_, i) => i);
  for (;;) {
    yield index.map((i) => items[i]!);
    let i = k - 1;
    while (i >= 0 && index[i] === items.length - k + i) i--;
    if (i < 0) return;
    index[i]!++;
    for (let j = i + 1; j < k; j++) index[j] = index[j - 1]! + 1;
  }
}

/**
 * The codes `seen` completes to with `missing` of the `candidates` (ports not in `seen`), each sorted, or
 * TooManyCompletionsError past `bound`. `what` names the caller's situation for that error.
 */
export function completions(
  seen: readonly number[],
  candidates: readonly number[],
  missing: number,
  bound: number,
  what: string,
): number[][] {
  const count = Math.round(2 ** codeBits(candidates.length, missing));
  if (count > bound) throw new TooManyCompletionsError(`${what}: ${count} completions exceed the bound of ${bound}`);
  const codes: number[][] = [];
  for (const extra of subsets(candidates, missing)) codes.push([...seen, ...extra].sort((a, b) => a - b));
  return codes;
}
