// server-match: the service sends the ports it saw and the ports it failed to bind; the server finds the code.
import { type BindFailureStrategy, completions, seenAndFailed } from "../../src/protocol/bind-failure.ts";
import type { Claim } from "../../src/protocol/schemas.ts";

type ServerMatchClaim = Extract<Claim, { strategy: "server-match" }>;

function asServerMatch(claim: Claim): ServerMatchClaim {
  if (claim.strategy !== "server-match") throw new TypeError(`server-match cannot read a ${claim.strategy} claim`);
  return claim;
}

export const serverMatch = {
  name: "server-match",
  claimsFailedWhenComplete: true,
  claim(observed, failed) {
    const { seen, candidates } = seenAndFailed(observed, failed);
    return { strategy: "server-match", observed: seen, failed: candidates };
  },
  observed: (claim) => [...new Set(asServerMatch(claim).observed)],
  failed: (claim) => [...new Set(asServerMatch(claim).failed)],
  codes(claim, limits) {
    const { observed, failed } = asServerMatch(claim);
    const { seen, candidates } = seenAndFailed(observed, failed);
    // A code has `knocks` ports: the ones seen, and the rest from the failed ones.
    const missing = limits.knocks - seen.length;
    const what = `${seen.length} of ${limits.knocks} knocks seen with ${candidates.length} failed ports`;
    return completions(seen, candidates, missing, limits.maxCompletions, what);
  },
  fits(claim, code) {
    const { observed, failed } = asServerMatch(claim);
    const seen = new Set(observed);
    for (const port of seen) if (!code.has(port)) return false;
    // Every port of the code the service did not see must be one it could not have seen.
    const couldNotSee = new Set(failed);
    for (const port of code) if (!seen.has(port) && !couldNotSee.has(port)) return false;
    return true;
  },
} as const satisfies BindFailureStrategy;
