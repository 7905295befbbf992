// How many long polls a client network, an API key and all pages together may hold at once in this instance.
import { CapacityError, RateLimitError } from "../lib/errors.ts";

/** Bounds on long polls held at once (see SecuritySettings for the defaults). */
export interface PollLimits {
  /** Page polls (no API key) held at once in all; past it 503. */
  maxPolls: number;
  /** Page polls one client network (IPv4 address, IPv6 /64) may hold; past it 429. */
  maxPollsPerClient: number;
  /** Polls one API key may hold; past it 429. API-key polls do not count against maxPolls. */
  maxPollsPerApiKey: number;
}

/** Who holds a poll: a client network (a page) or an API key (a backend). */
export type PollHolder = { network: string; apiKeyId?: undefined } | { apiKeyId: string; network?: undefined };

/**
 * A counter of polls held, by holder. A poll past its bound is answered at once (429 or 503) instead of
 * being held: every held poll costs a connection, a timer and a waiter, and a bound that made polls return
 * early and be retried at once let a flood spin the server. The map holds only holders with a poll in
 * flight, so it is bounded by the polls themselves.
 */
export function pollGate(limits: PollLimits) {
  const held = new Map<string, number>();
  let pages = 0;
  return {
    /** Admits one poll; the answer releases it (call it exactly once, when the poll is answered). */
    enter(holder: PollHolder): () => void {
      const key = holder.apiKeyId !== undefined ? `key:${holder.apiKeyId}` : `net:${holder.network}`;
      const mine = held.get(key) ?? 0;
      if (holder.apiKeyId !== undefined) {
        if (mine >= limits.maxPollsPerApiKey) {
          throw new RateLimitError(
            `too many long polls held by this API key (at most ${limits.maxPollsPerApiKey}); poll again in 1 s`,
            1,
          );
        }
      } else {
        if (mine >= limits.maxPollsPerClient) {
          throw new RateLimitError(
            `too many long polls held from this network (at most ${limits.maxPollsPerClient}); poll again in 1 s`,
            1,
          );
        }
        if (pages >= limits.maxPolls)
          throw new CapacityError(`too many long polls held (${limits.maxPolls}); poll again shortly`);
        pages++;
      }
      held.set(key, mine + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        if (holder.apiKeyId === undefined) pages--;
        const left = (held.get(key) ?? 1) - 1;
        if (left > 0) held.set(key, left);
        else held.delete(key);
      };
    },
    /** Page polls held now (for tests and metrics). */
    pagePolls: () => pages,
  };
}
