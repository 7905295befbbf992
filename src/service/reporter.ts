// Sends each burst to the server, retrying until it is answered, and carries out what the answer asks.
import {
  ApiError,
  DecodeError,
  describeError,
  NetworkError,
  PkipcError,
  ResponseTooLargeError,
} from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import type { ApiClient } from "../protocol/api-client.ts";
import type { BindFailureStrategy, ClaimLimits } from "../protocol/bind-failure.ts";
import type { Ack, Instruction, ProcessInfo, Report, ReportAnswer } from "../protocol/schemas.ts";
import type { Burst } from "./bursts.ts";
import type { InstructionRunner } from "./handlers/index.ts";
import { type ConfirmLink, consented } from "./policy.ts";

/** What became of one burst, for whoever watches the service (tests, the demo). */
export interface ReportEvent {
  burst: Burst;
  answer?: ReportAnswer;
  /** The web origin of the session the knocks fit, as the server named it ("none": a session without one). */
  origin?: string;
  error?: string;
  acks: Ack[];
}

export interface ReporterOptions {
  api: ApiClient;
  strategy: BindFailureStrategy;
  limits: ClaimLimits;
  /** Ports the service could not bind. */
  failed: readonly number[];
  /** Carries out instructions (see handlers/index.ts): only what the local configuration allows. */
  instructions: InstructionRunner;
  log: Logger;
  /** Give up on a report after this long, in ms (a code does not outlive it anyway). */
  giveUpMs: number;
  /**
   * Web origins whose sessions may link (the word "none": sessions without an origin), sent with every
   * report and checked again on the answer. Default: any.
   */
  allowOrigins?: readonly string[];
  /**
   * Asked before linking, with the origin of the session the knocks fit: the service first sends a
   * proposal, and links only that origin's session if the answer is yes. Default: none (links directly).
   */
  confirm?: ConfirmLink;
  /**
   * The longest a linked service keeps asking for further instructions, in ms: it asks as long as the
   * server says the link lives (its answers' link lifetime), at most this. Default 3,600,000 (the longest
   * --link-ttl a server accepts).
   */
  maxWatchLinkMs?: number;
  onReport?(event: ReportEvent): void;
}

const MAX_IN_FLIGHT = 256;
const MAX_WATCHED_LINKS = 64;
/** How long to watch a link for a server of 0.2, which does not say how long its links live. */
const UNSTATED_LINK_TTL_MS = 60_000;

/**
 * The origin of the session an answer is about, as an allow-list names it ("none": a session of a
 * non-browser client); undefined when the knocks fit no session.
 */
function sessionOrigin(answer: ReportAnswer): string | undefined {
  if (answer.origin !== undefined) return answer.origin;
  return answer.linked || answer.code === "PROPOSED" || answer.code === "ORIGIN_NOT_ALLOWED" ? "none" : undefined;
}

/** First pause before a failed pull is asked again, doubling up to MAX_PULL_RETRY_MS. */
const PULL_RETRY_MS = 1000;
const MAX_PULL_RETRY_MS = 16_000;

/** Pull failures worth asking again: the server's fault or the network's, not a link it no longer knows. */
const retryablePull = (error: unknown) =>
  error instanceof NetworkError ||
  error instanceof ResponseTooLargeError ||
  error instanceof DecodeError ||
  (error instanceof ApiError && (error.status >= 500 || error.status === 429));

/** Waits `ms`, or less when `signal` aborts (a stopping service does not wait out a backoff). */
function pauseFor(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

const retryable = (error: unknown) =>
  error instanceof NetworkError || (error instanceof ApiError && (error.status >= 500 || error.status === 429));
/** How long to wait before retrying: what a 429 asks for, else exponential from 100 ms. */
const backoff = (error: unknown, attempt: number) =>
  error instanceof ApiError && error.retryAfterSeconds !== undefined
    ? error.retryAfterSeconds * 1000
    : 100 * 2 ** attempt;

export function createReporter(options: ReporterOptions) {
  const { api, log } = options;
  const maxWatchLinkMs = options.maxWatchLinkMs ?? 3_600_000;
  const stopping = new AbortController();
  let inFlight = 0;
  let watching = 0;
  const reports = new Set<Promise<void>>();
  const watchers = new Set<Promise<void>>();

  /** Where a link's instructions come from, as their handlers see it. */
  interface LinkContext {
    process: ProcessInfo;
    linkId: string;
    /** The session's web origin; absent when it has none. */
    origin?: string;
  }

  async function handle(instructions: Instruction[], link: LinkContext): Promise<Ack[]> {
    const acks: Ack[] = [];
    for (const instruction of instructions)
      acks.push(await options.instructions.run(instruction, { log, ...link, signal: stopping.signal }));
    return acks;
  }

  /** Instructions queued after the link: the local user is asked first when one is marked as needing consent. */
  async function handleAsked(instructions: Instruction[], link: LinkContext): Promise<Ack[]> {
    if (instructions.length && options.confirm) {
      const answer = await options.confirm(link.process, 0, link.origin ?? "none", { instructions, afterLink: true });
      if (!consented(answer))
        return instructions.map((i) => ({
          id: i.id,
          ok: false,
          result: "DECLINED: the local user declined this instruction",
        }));
    }
    return handle(instructions, link);
  }

  async function sendAcks(linkId: string, acks: Ack[]): Promise<void> {
    if (acks.length === 0) return;
    try {
      await api.ack(linkId, acks, stopping.signal);
    } catch (error) {
      log.warn("could not send acknowledgements", { error: describeError(error) });
    }
  }

  /** A linked session's instructions when its origin is not one the local user allows: all refused. */
  function refuseAll(instructions: Instruction[], origin: string): Ack[] {
    return instructions.map((i) => ({
      id: i.id,
      ok: false,
      result: `refused: the session's origin ${origin} is not allowed by this service`,
    }));
  }

  /** How long to watch a link the server says lives `linkTtlMs` more: bounded here, whatever a server says. */
  const watchFor = (linkTtlMs: number | undefined) => Math.min(linkTtlMs ?? UNSTATED_LINK_TTL_MS, maxWatchLinkMs);

  /**
   * After a link, the session holder may queue more: ask for them as long as the link lives. Each pull's
   * answer says how long that is from then; the server answers 410 once it ended (404 once it is gone).
   */
  async function watch(link: LinkContext, linkTtlMs: number | undefined): Promise<void> {
    if (watching >= MAX_WATCHED_LINKS) {
      log.warn(
        `already watching ${MAX_WATCHED_LINKS} links; instructions queued later for this one will expire undelivered`,
        { linkId: link.linkId },
      );
      return;
    }
    watching++;
    let end = Date.now() + watchFor(linkTtlMs);
    let failures = 0;
    try {
      while (Date.now() < end && !stopping.signal.aborted) {
        const wait = Math.max(1, Math.min(25, Math.ceil((end - Date.now()) / 1000)));
        let pulled: Awaited<ReturnType<typeof api.pull>>;
        try {
          pulled = await api.pull(link.linkId, wait, stopping.signal);
          failures = 0;
        } catch (error) {
          // A link the server no longer knows (404) or that ended (410) ends the watch; anything else (a
          // server down, an answer refused for its size) is asked again after a doubling pause, within the watch.
          if (stopping.signal.aborted || !retryablePull(error)) throw error;
          const pause = Math.min(PULL_RETRY_MS * 2 ** failures++, MAX_PULL_RETRY_MS);
          const level = error instanceof ResponseTooLargeError ? "warn" : "debug";
          log[level](
            `could not pull the link's instructions: ${describeError(error)}; trying again in ${Math.ceil(pause / 1000)} s`,
          );
          await pauseFor(Math.min(pause, Math.max(0, end - Date.now())), stopping.signal);
          continue;
        }
        if (pulled.linkTtlMs !== undefined) end = Date.now() + watchFor(pulled.linkTtlMs);
        await sendAcks(link.linkId, await handleAsked(pulled.instructions, link));
      }
    } catch (error) {
      if (!stopping.signal.aborted && !(error instanceof ApiError && (error.status === 404 || error.status === 410))) {
        log.warn("stopped watching a link before it ended; instructions queued later will expire undelivered", {
          error: describeError(error),
        });
      }
    } finally {
      watching--;
    }
  }

  // Throttling is said once when it starts and once when it ends, not per report: under a flood of
  // reports the log would otherwise drown, and at the debug level a user never learns why links are late.
  let throttled = 0;
  const throttle = (error: ApiError, pause: number) => {
    if (throttled++ === 0)
      log.warn(`reports throttled by the server, retrying in ${Math.ceil(pause / 1000)} s: ${error.message}`);
  };
  const unthrottle = () => {
    if (throttled > 0) log.info(`reports accepted again after ${throttled} throttled attempts`);
    throttled = 0;
  };

  /** Sends one report, retrying what may pass later until the report's give-up time. */
  async function report(body: Report, end: number): Promise<{ answer: ReportAnswer; linkTtlMs?: number }> {
    for (let attempt = 0; ; attempt++) {
      try {
        log.debug("report sent", { pid: body.process.pid, attempt, propose: body.propose === true });
        const answered = await api.reportLink(body, stopping.signal);
        unthrottle();
        return answered;
      } catch (error) {
        const pause = backoff(error, attempt);
        if (error instanceof ApiError && error.status === 429) throttle(error, pause);
        if (!retryable(error) || Date.now() + pause > end || stopping.signal.aborted) throw error;
        await Bun.sleep(pause);
      }
    }
  }

  async function send(burst: Burst): Promise<void> {
    const event: ReportEvent = { burst, acks: [] };
    const who = {
      pid: burst.process.pid,
      name: burst.process.name,
      user: burst.process.user,
      ports: burst.ports.length,
      knockOrigin: burst.origin ?? "none",
    };
    try {
      const claim = options.strategy.claim(burst.ports, [...options.failed, ...burst.uncertain], options.limits);
      const end = Date.now() + options.giveUpMs;
      const base: Report = {
        process: burst.process,
        claim,
        ...(burst.origin === undefined ? {} : { origin: burst.origin }),
        ...(options.allowOrigins ? { allowOrigins: [...options.allowOrigins] } : {}),
      };
      let allowed = options.allowOrigins;
      if (options.confirm) {
        // Ask the server which session the knocks fit, show its origin, and link only that origin's session.
        const { answer: proposal } = await report({ ...base, propose: true }, end);
        event.origin = sessionOrigin(proposal);
        if (proposal.code !== "PROPOSED" || event.origin === undefined) {
          event.answer = proposal;
          log.info(`report -> not linked (${proposal.code}): ${proposal.reason}`, { ...who, origin: event.origin });
          options.onReport?.(event);
          return;
        }
        const origin = event.origin;
        if (
          !consented(
            await options.confirm(burst.process, burst.ports.length, origin, { instructions: proposal.instructions }),
          )
        ) {
          event.error = "declined by the local user";
          log.info("link declined by the local user", { ...who, origin: event.origin });
          // Told to the server at once (for this origin's session only): the page and its backend see
          // DECLINED now, instead of waiting out their timeout and blaming a missing service.
          await report({ ...base, allowOrigins: [origin], decline: true }, end).catch((error: unknown) =>
            log.warn(`could not tell the server the link was declined: ${describeError(error)}`, who),
          );
          options.onReport?.(event);
          return;
        }
        allowed = [origin];
      }
      const answered = await report(allowed ? { ...base, allowOrigins: [...allowed] } : base, end);
      event.answer = answered.answer;
      const answer = answered.answer;
      event.origin = sessionOrigin(answer);
      if (answer.linked && answer.linkId) {
        const origin = event.origin ?? "none";
        // The server was told which origins may link; a link to any other is refused here as well.
        const fields = { ...who, origin, instructions: answer.instructions.length };
        if (allowed && !allowed.includes(origin)) {
          log.warn(
            "report -> linked a session of an origin this service does not allow; its instructions are refused",
            fields,
          );
          event.acks = refuseAll(answer.instructions, origin);
          await sendAcks(answer.linkId, event.acks);
        } else {
          log.info("report -> linked", fields);
          const link: LinkContext = {
            process: burst.process,
            linkId: answer.linkId,
            ...(answer.origin ? { origin: answer.origin } : {}),
          };
          event.acks = await handle(answer.instructions, link);
          await sendAcks(answer.linkId, event.acks);
          const watcher = watch(link, answered.linkTtlMs).finally(() => watchers.delete(watcher));
          watchers.add(watcher);
        }
      } else {
        log.info(`report -> not linked (${answer.code}): ${answer.reason}`, { ...who, origin: event.origin });
      }
    } catch (error) {
      event.error = describeError(error);
      const level = error instanceof PkipcError ? "warn" : "error";
      log[level](`report failed: ${event.error}`, who);
    }
    options.onReport?.(event);
  }

  return {
    /** Queues a burst; bounded, so a flood of processes cannot exhaust memory. */
    submit(burst: Burst): void {
      if (inFlight >= MAX_IN_FLIGHT) {
        log.warn("too many reports in flight; dropping one", { pid: burst.process.pid });
        return;
      }
      inFlight++;
      const task = send(burst).finally(() => {
        inFlight--;
        reports.delete(task);
      });
      reports.add(task);
    },
    /** Lets reports under way finish (up to graceMs), then stops watching links. */
    async stop(graceMs = 2000): Promise<void> {
      await Promise.race([Promise.allSettled([...reports]), Bun.sleep(graceMs)]);
      stopping.abort();
      await Promise.allSettled([...reports, ...watchers]);
    },
  };
}
