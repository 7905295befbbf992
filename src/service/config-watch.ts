// Follows the server's configuration: a service whose server moved to another range or code shape rebinds
// by itself instead of holding ports no knock will come to.
import { describeError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import type { ServiceConfig } from "../protocol/schemas.ts";

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
  return shown.flatMap(([name, show]) => (show(before) === show(after) ? [] : [`${name} ${show(before)} -> ${show(after)}`]));
}

export interface ConfigWatchOptions {
  /** Fetches the server's configuration now (with its own deadline). */
  fetch(): Promise<ServiceConfig>;
  /** The configuration the service runs with now. */
  current(): ServiceConfig;
  /** Whether the service should rebind even if nothing changed (its last bind held no port). */
  stale(): boolean;
  /** Applies a new configuration; called one at a time. */
  apply(next: ServiceConfig, changes: string[]): Promise<void>;
  /** How often to ask the server, in ms. */
  intervalMs: number;
  log: Logger;
}

/**
 * Asks the server for its configuration every `intervalMs`, and at once when `check()` is called (a
 * report answered in a way only a changed server explains), and applies a changed one. A server that
 * does not answer leaves the service as it is.
 */
export function watchConfig(options: ConfigWatchOptions) {
  let running: Promise<void> | undefined;
  let stopped = false;
  const check = (why: string): Promise<void> => {
    if (stopped) return Promise.resolve();
    // One check at a time: a burst of odd answers triggers one fetch, not one each.
    running ??= (async () => {
      try {
        const next = await options.fetch();
        const changes = configChanges(options.current(), next);
        if (changes.length === 0 && !options.stale()) return;
        if (stopped) return;
        options.log.warn(`the server's configuration changed (${changes.join(", ") || "the last bind held no port"}): rebinding`, { why });
        await options.apply(next, changes);
      } catch (error) {
        options.log.debug("could not check the server's configuration", { why, error: describeError(error) });
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
