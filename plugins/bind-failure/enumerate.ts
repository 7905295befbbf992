// enumerate: the service sends every code its knocks could complete to with failed ports; the server looks each up.
import {
  type BindFailureStrategy,
  completions as completionsOf,
  seenAndFailed,
} from "../../src/protocol/bind-failure.ts";
import type { Claim } from "../../src/protocol/schemas.ts";
import { codeKey } from "../../src/protocol/code.ts";
import { TooManyCompletionsError } from "../../src/lib/errors.ts";

type EnumerateClaim = Extract<Claim, { strategy: "enumerate" }>;

function asEnumerate(claim: Claim): EnumerateClaim {
  if (claim.strategy !== "enumerate") throw new TypeError(`enumerate cannot read a ${claim.strategy} claim`);
  return claim;
}

export const enumerate = {
  name: "enumerate",
  claimsFailedWhenComplete: false,
  claim(observed, failed, limits) {
    const { seen, candidates } = seenAndFailed(observed, failed);
    const missing = limits.knocks - seen.length;
    // Too many or too few ports to complete: send what was seen, the server says why it cannot link.
    if (missing <= 0 || missing > candidates.length || missing > limits.maxMissing) {
      return { strategy: "enumerate", completions: [seen.slice(0, limits.knocks + 1)] };
    }
    const what = `saw ${seen.length} of ${limits.knocks} knocks with ${candidates.length} failed ports`;
    const completions = completionsOf(seen, candidates, missing, limits.maxCompletions, what);
    return { strategy: "enumerate", completions };
  },
  admit(claim, limits) {
    // Counted before observed() intersects them: that walk is completions x ports long.
    const { completions } = asEnumerate(claim);
    if (completions.length > limits.maxCompletions) {
      throw new TooManyCompletionsError(
        `${completions.length} completions sent; at most ${limits.maxCompletions} are accepted`,
      );
    }
  },
  observed(claim) {
    // The ports every completion shares are the ones the service really saw.
    const [first, ...rest] = asEnumerate(claim).completions;
    const common = new Set(first);
    for (const completion of rest) {
      const other = new Set(completion);
      for (const port of common) if (!other.has(port)) common.delete(port);
    }
    return [...common];
  },
  failed(claim) {
    const all = new Set(asEnumerate(claim).completions.flat());
    for (const port of enumerate.observed(claim)) all.delete(port);
    return [...all];
  },
  codes(claim, limits) {
    // What the service sent, each once: only whole codes can be live.
    const codes = new Map<string, number[]>();
    for (const completion of asEnumerate(claim).completions) {
      const ports = [...new Set(completion)].sort((a, b) => a - b);
      if (ports.length === limits.knocks) codes.set(ports.join(","), ports);
    }
    if (codes.size > limits.maxCompletions) {
      throw new TooManyCompletionsError(
        `${codes.size} completions sent; at most ${limits.maxCompletions} are accepted`,
      );
    }
    return [...codes.values()];
  },
  fits(claim, code) {
    const key = codeKey(code);
    return asEnumerate(claim).completions.some((c) => c.length === code.size && codeKey(c) === key);
  },
} as const satisfies BindFailureStrategy;
