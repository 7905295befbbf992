// enumerate: the service sends every code its knocks could complete to with failed ports; the server looks each up.
import type { BindFailureStrategy } from "../../src/protocol/bind-failure.ts";
import { codeBits } from "../../src/protocol/code.ts";
import type { Claim } from "../../src/protocol/schemas.ts";
import { codeKey } from "../../src/protocol/code.ts";
import { TooManyCompletionsError } from "../../src/lib/errors.ts";

type EnumerateClaim = Extract<Claim, { strategy: "enumerate" }>;

function asEnumerate(claim: Claim): EnumerateClaim {
  if (claim.strategy !== "enumerate") throw new TypeError(`enumerate cannot read a ${claim.strategy} claim`);
  return claim;
}

/** Every k-subset of `items`, in lexicographic order of indexes; the caller bounds the count first. */
function* subsets(items: readonly number[], k: number): Generator<number[]> {
  const index = Array.from({ length: k }, (_, i) => i);
  if (k > items.length) return;
  for (;;) {
    yield index.map((i) => items[i]!);
    let i = k - 1;
    while (i >= 0 && index[i] === items.length - k + i) i--;
    if (i < 0) return;
    index[i]!++;
    for (let j = i + 1; j < k; j++) index[j] = index[j - 1]! + 1;
  }
}

export const enumerate = {
  name: "enumerate",
  claim(observed, failed, limits) {
    const seen = [...new Set(observed)].sort((a, b) => a - b);
    const missing = limits.knocks - seen.length;
    const candidates = [...new Set(failed)].filter((p) => !seen.includes(p)).sort((a, b) => a - b);
    // Too many or too few ports to complete: send what was seen, the server says why it cannot link.
    if (missing <= 0 || missing > candidates.length || missing > limits.maxMissing) {
      return { strategy: "enumerate", completions: [seen.slice(0, limits.knocks + 1)] };
    }
    const count = Math.round(2 ** codeBits(candidates.length, missing));
    if (count > limits.maxCompletions) {
      throw new TooManyCompletionsError(
        `saw ${seen.length} of ${limits.knocks} knocks with ${candidates.length} failed ports: ${count} completions exceed the bound of ${limits.maxCompletions}`,
      );
    }
    const completions: number[][] = [];
    for (const extra of subsets(candidates, missing)) completions.push([...seen, ...extra].sort((a, b) => a - b));
    return { strategy: "enumerate", completions };
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
  fits(claim, code) {
    const key = codeKey(code);
    return asEnumerate(claim).completions.some((c) => c.length === code.size && codeKey(c) === key);
  },
} as const satisfies BindFailureStrategy;
