// The server's webhook flags, kept beside the code they configure; `pkipc server` spreads them into its own.
import { ConfigError } from "../../lib/errors.ts";
import { duration, integer } from "../../lib/options.ts";
import type { WebhookSettings } from "./deliver.ts";

/** Retries at most: the schedule is bounded, and so is how long an event can sit in the queue. */
export const MAX_RETRIES = 16;
/** Longest wait before one retry. */
const MAX_RETRY_DELAY_MS = 24 * 3_600_000;

/** "5s,5m,30m,2h,5h": the waits before each retry (ms, s, m or h); "none" for no retries. */
export function retrySchedule(raw: string, name: string): number[] {
  if (raw.trim() === "none") return [];
  const parts = raw.split(",").map((p) => p.trim());
  if (parts.length > MAX_RETRIES)
    throw new ConfigError(`${name} may list at most ${MAX_RETRIES} retries, not ${parts.length}`);
  return parts.map((part) => {
    const match = /^(\d{1,9})(ms|s|m|h)$/.exec(part);
    if (!match) throw new ConfigError(`${name} must list waits such as 5s,5m,30m,2h (or be none), not "${raw}"`);
    const ms = Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as "ms" | "s" | "m" | "h"];
    if (ms < 100 || ms > MAX_RETRY_DELAY_MS)
      throw new ConfigError(`${name}: each wait must be between 100ms and 24h, not ${part}`);
    return ms;
  });
}

export const webhookOptions = {
  webhookRetries: {
    description: "Waits before each retry of a webhook delivery that failed (non-2xx, timeout); none for no retries",
    env: "PKIPC_WEBHOOK_RETRIES",
    default: "5s,5m,30m,2h,5h",
    parse: retrySchedule,
  },
  webhookTimeout: {
    description: "Deadline of one webhook delivery attempt",
    env: "PKIPC_WEBHOOK_TIMEOUT",
    default: "10s",
    parse: duration(100, 60_000),
  },
  webhookQueue: {
    description: "Webhook events waiting or in flight at most, per instance; past it new events are dropped (logged)",
    env: "PKIPC_WEBHOOK_QUEUE",
    default: "10000",
    parse: integer(1, 1_000_000),
  },
} as const;

/** The settings the resolved flags stand for. */
export function webhookSettings(o: {
  webhookRetries: number[];
  webhookTimeout: number;
  webhookQueue: number;
}): Partial<WebhookSettings> {
  return { retryDelaysMs: o.webhookRetries, timeoutMs: o.webhookTimeout, maxQueued: o.webhookQueue };
}
