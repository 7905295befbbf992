// Follows the server's configuration: a service whose server moved to another range or code shape rebinds
// by itself instead of holding ports no knock will come to.
import { describeError, ResponseTooLargeError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import type { ServiceConfig } from "../protocol/schemas.ts";

/** After failed checks the wait doubles from one interval up to this many intervals. */
const MAX_BACKOFF_CHECKS = 8;

/** What differs between two configurations, one phrase per setting ("range 29170-29233 -> 30000-30063"); empty when equal. */
export function configChanges(before: ServiceConfig, after: ServiceConfig): string[] {
  const shown: Array<[string, (c: ServiceConfig) => string]> = [
    ["range", (c) => `${c.range.start}-${c.range.end}`],
    ["code", (c) => `${c.tuples}x${c.portsPerTuple}`],
    ["bind-failure", (c) => c.bindFailure],
    ["ttl", (c) => `${c.ttlMs} ms`],
    ["settle", (c) => `${c.settleMs} ms`],
    ["idle", (c) => `${c.idleMs} ms`],
    ["max-missing", (c) => String(c.maxMissing)],
    ["max-failed", (c) => String(c.maxFailed)],
    ["max-completions", (c) => String(c.maxCompletions)],
  ];
  return shown.flatMap(([name, show]) =>
    show(before) === show(after) ? [] : [`${name} ${show(before)} -> ${show(after)}`],
  );
}

export interface ConfigWatchOptions {
  /** Fetches the server's configuration now (with its own deadline). */
  fetch(): Promise<ServiceConfig>;
  /** The configuration the service runs with now. */
  current(): ServiceConfig;
  /** Whether the service should rebind even if nothing changed (its last bind held no port). */
  stale(): boolean;
  /** Why a configuration must not be applied (one sentence naming the bound), or undefined to apply it. */
  refuse?(next: ServiceConfig): string | undefined;
  /** Applies a new configuration; called one at a time. */
  apply(next: ServiceConfig, changes: string[]): Promise<void>;
  /** How often to ask the server, in ms. */
  intervalMs: number;
  log: Logger;
}

/**
 * Asks the server for its configuration every `intervalMs`, and at once when `check()` is called (a
 * report answered in a way only a changed server explains), and applies a changed one. A server that
 * does not answer (or answers too much) leaves the service as it is and is asked again after a doubling
 * pause; a configuration `refuse` names a reason for is logged once and not applied.
 */
export function watchConfig(options: ConfigWatchOptions) {
  let running: Promise<void> | undefined;
  let stopped = false;
  /** The refused range last logged; consecutive failed checks and when the next may run (backoff). */
  let refused: string | undefined;
  let failures = 0;
  let retryAt = 0;
  const check = (why: string): Promise<void> => {
    if (stopped || Date.now() < retryAt) return running ?? Promise.resolve();
    // One check at a time: a burst of odd answers triggers one fetch, not one each.
    running ??= (async () => {
      try {
        const next = await options.fetch();
        // Said once when the server answers again, as its silence was said once when it began.
        if (failures > 0)
          options.log.info(
            `the server answers again (after ${failures} failed ${failures === 1 ? "check" : "checks"})`,
            { why },
          );
        failures = 0;
        const changes = configChanges(options.current(), next);
        if (changes.length === 0 && !options.stale()) {
          refused = undefined; // back to the range it holds: a later refusal is news again
          return;
        }
        if (stopped) return;
        const refusal = options.refuse?.(next);
        if (refusal) {
          // Said once per refused range, not at every check: a hostile server must not flood the log.
          const shown = `${next.range.start}-${next.range.end}`;
          if (refused !== shown) {
            const kept = options.current().range;
            options.log.error(`${refusal}: refused, keeping ${kept.start}-${kept.end}`, { why });
          }
          refused = shown;
          return;
        }
        refused = undefined;
        options.log.warn(
          `the server's configuration changed (${changes.join(", ") || "the last bind held no port"}): rebinding`,
          { why },
        );
        await options.apply(next, changes);
      } catch (error) {
        failures++;
        const pause = Math.min(options.intervalMs * 2 ** (failures - 1), MAX_BACKOFF_CHECKS * options.intervalMs);
        retryAt = Date.now() + pause;
        // The first failure is said at warn (a user reading the log at info learns the server is away, and
        // why); the next ones at debug, so a long outage does not flood the log. An answer refused for its
        // size is a server misbehaving (or hostile): said at warn each time.
        const tooLarge = error instanceof ResponseTooLargeError;
        const level = failures === 1 || tooLarge ? "warn" : "debug";
        const first = failures === 1 && !tooLarge ? "the server does not answer; links wait until it does. " : "";
        options.log[level](
          `${first}could not check the server's configuration: ${describeError(error)}; next check in ${Math.ceil(pause / 1000)} s`,
          { why },
        );
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const timer = setInterval(() => void check("periodic check"), options.intervalMs);
  timer.unref?.();
  return {
    check,
    async stop(): Promise<void> {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
