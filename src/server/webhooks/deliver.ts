// Delivers webhook events off the request path: a bounded queue, bounded concurrency, a deadline per attempt, retries with backoff.
import type { Logger } from "../../lib/log.ts";
import type { WebhookTarget } from "../state/types.ts";
import type { WebhookEvent } from "./events.ts";
import { signedHeaders } from "./sign.ts";

/** How deliveries are paced and bounded (see `pkipc server --help` for the flags). */
export interface WebhookSettings {
  /** Waits before each retry, in ms; its length is the number of retries. Default 5 s, 5 min, 30 min, 2 h, 5 h. */
  retryDelaysMs: readonly number[];
  /** Deadline of one attempt, from connecting to the answer's status, in ms. Default 10,000. */
  timeoutMs: number;
  /** Events waiting or being sent at most; past it, new events are dropped and counted. Default 10,000. */
  maxQueued: number;
  /** Attempts in flight at once. Default 16. */
  maxInFlight: number;
}

export const DEFAULT_WEBHOOK_SETTINGS: WebhookSettings = {
  retryDelaysMs: [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000],
  timeoutMs: 10_000,
  maxQueued: 10_000,
  maxInFlight: 16,
};

export interface WebhookSender {
  /** Queues an event; never waits and never throws (a full queue drops it, with a log line). */
  send(event: WebhookEvent): void;
  /** Events waiting or in flight. */
  pending(): number;
  /** Stops: attempts in flight are aborted, events waiting are dropped (said in the log). */
  stop(): void;
}

interface Job {
  event: WebhookEvent;
  /** Attempts made so far. */
  attempts: number;
}

/** How often a full queue says how many events it dropped. */
const DROP_LOG_MS = 10_000;

/**
 * A sender that looks each event's target up (`targetOf`, by API key id) at every attempt: a revoked key
 * or a removed webhook stops its deliveries, and a secret never sits in the queue. A non-2xx answer, a
 * redirect (never followed: the operator named the URL, not whoever answers it), a timeout or a lookup
 * failure is a failed attempt, retried after the next delay; after the last one the event is given up.
 */
export function webhookSender(
  targetOf: (apiKeyId: string) => Promise<WebhookTarget | undefined>,
  log: Logger,
  settings: WebhookSettings = DEFAULT_WEBHOOK_SETTINGS,
  userAgent = "pkipc",
): WebhookSender {
  const stopping = new AbortController();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const ready: Job[] = [];
  let waiting = 0; // jobs sleeping until a retry
  let inFlight = 0;
  let dropped = 0;
  let droppedSaid = 0;

  const pending = () => ready.length + waiting + inFlight;

  async function attempt(job: Job): Promise<boolean> {
    const { event } = job;
    const target = await targetOf(event.apiKeyId);
    if (!target) return true; // no webhook (any more): nothing to deliver, nothing to retry
    const headers = signedHeaders(target.secret, event.id, Math.floor(Date.now() / 1000), event.body);
    const signal = AbortSignal.any([AbortSignal.timeout(settings.timeoutMs), stopping.signal]);
    const response = await fetch(target.url, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json", "user-agent": userAgent },
      body: event.body,
      redirect: "manual",
      signal,
    });
    // The answer's body is never read: its status says all, and a receiver cannot make the server hold a large one.
    await response.body?.cancel().catch(() => undefined);
    if (response.status >= 200 && response.status < 300) return true;
    throw new Error(`answered ${response.status}`);
  }

  function pump(): void {
    while (inFlight < settings.maxInFlight && ready.length > 0 && !stopping.signal.aborted) {
      const job = ready.shift()!;
      inFlight++;
      job.attempts++;
      attempt(job)
        .then(
          () => log.debug("webhook delivered", { id: job.event.id, attempts: job.attempts }),
          (error: unknown) => retry(job, error),
        )
        .finally(() => {
          inFlight--;
          pump();
        });
    }
  }

  function retry(job: Job, error: unknown): void {
    if (stopping.signal.aborted) return;
    const why =
      (error as Error).name === "TimeoutError" ? `no answer within ${settings.timeoutMs} ms` : (error as Error).message;
    const planned = settings.retryDelaysMs[job.attempts - 1];
    if (planned === undefined) {
      log.error("webhook given up", { id: job.event.id, attempts: job.attempts, error: why });
      return;
    }
    // ±10 %: events that failed together (a receiver down) do not all come back in the same instant.
    const delay = Math.round(planned * (0.9 + Math.random() * 0.2));
    log.warn("webhook attempt failed; retrying", {
      id: job.event.id,
      attempt: job.attempts,
      retryInMs: delay,
      error: why,
    });
    waiting++;
    const timer = setTimeout(() => {
      timers.delete(timer);
      waiting--;
      ready.push(job);
      pump();
    }, delay);
    timer.unref?.();
    timers.add(timer);
  }

  return {
    send(event) {
      if (stopping.signal.aborted) return;
      if (pending() >= settings.maxQueued) {
        dropped++;
        const now = Date.now();
        if (now - droppedSaid >= DROP_LOG_MS) {
          log.error("webhook queue full: events dropped", { dropped, maxQueued: settings.maxQueued });
          droppedSaid = now;
          dropped = 0;
        }
        return;
      }
      ready.push({ event, attempts: 0 });
      pump();
    },
    pending,
    stop() {
      const left = ready.length + waiting;
      stopping.abort();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      ready.length = 0;
      waiting = 0;
      if (left > 0) log.warn("stopping with webhook events undelivered", { events: left });
    },
  };
}
