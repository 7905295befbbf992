// Whether links can succeed with the ports a service holds: the server's own checks, applied to every code it may draw.
import type { ServiceConfig } from "../protocol/schemas.ts";
import { findBindFailure } from "../../plugins/bind-failure/index.ts";
import { knockCount } from "../protocol/code.ts";

export interface PortOutlook {
  /** The share of the server's codes a report from this service can link, 0 to 1. */
  share: number;
  /** One sentence for the log: what links can do, and why not more. */
  sentence: string;
}

/** log C(n, k), exact enough for shares (k is at most a code's length). */
function logChoose(n: number, k: number): number {
  if (k < 0 || k > n) return -Infinity;
  let sum = 0;
  for (let i = 1; i <= k; i++) sum += Math.log((n - k + i) / i);
  return sum;
}

/**
 * A code is drawn uniformly among the range's sets of `knocks` ports; one holding k failed ports links when
 * the server accepts the claim the strategy makes for it: k at most --max-missing, the failed ports claimed at
 * most --max-failed (every failed port, by a strategy that claimsFailedWhenComplete; else only when a knock is missing), and
 * C(failed, k) codes at most --max-completions. This sums the chance of the codes that pass.
 */
export function portOutlook(config: ServiceConfig, failed: number): PortOutlook {
  const size = config.range.end - config.range.start + 1;
  const knocks = knockCount({ tuples: config.tuples, portsPerTuple: config.portsPerTuple });
  if (failed === 0) return { share: 1, sentence: "every port is held: links can succeed" };
  const total = logChoose(size, knocks);
  let share = 0;
  // A strategy this build does not know claims failed ports only when a knock is missing, as the schema allows any name.
  const claimsWhenComplete = findBindFailure(config.bindFailure)?.claimsFailedWhenComplete ?? false;
  const blocked = new Set<string>();
  for (let k = 0; k <= Math.min(knocks, failed); k++) {
    const chance = Math.exp(logChoose(failed, k) + logChoose(size - failed, knocks - k) - total);
    const claimsFailed = claimsWhenComplete || k > 0;
    if (k > config.maxMissing)
      blocked.add(
        `a code with more than ${config.maxMissing} of them has too many missing knocks (--max-missing ${config.maxMissing})`,
      );
    else if (claimsFailed && failed > config.maxFailed) {
      blocked.add(
        `${config.bindFailure} claims all ${failed} failed ports and the server accepts at most ${config.maxFailed} (--max-failed)`,
      );
    } else if (Math.exp(logChoose(failed, k)) > config.maxCompletions)
      blocked.add(`too many codes would fit (--max-completions ${config.maxCompletions})`);
    else share += chance;
  }
  share = Math.min(1, share);
  const why = [...blocked].join("; ");
  if (share === 0)
    return { share, sentence: `could not bind ${failed} ports: no link can succeed until they are free (${why})` };
  const percent = share >= 0.995 ? "nearly all" : share < 0.01 ? "under 1 %" : `about ${Math.round(share * 100)} %`;
  return {
    share,
    sentence: `could not bind ${failed} ports: ${percent} of links can succeed (${config.bindFailure} fills in failed ports${why ? `; ${why}` : ""})`,
  };
}
