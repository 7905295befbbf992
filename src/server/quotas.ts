// What pages, one client network and one API key may hold in the store: pending sessions and instruction args.
import { CapacityError, RateLimitError } from "../lib/errors.ts";
import { clientNetwork } from "./client-network.ts";
import { type Hold, liveCapError, type Quota } from "./state/types.ts";

/** The bounds, each with its default in {@link DEFAULT_QUOTAS}. */
export interface QuotaSettings {
  /** Pending sessions of API keys in all (--max-sessions); 503 past it. */
  maxLiveSessions: number;
  /** Pending page sessions (no API key) in all; 503 past it. */
  maxPageSessions: number;
  /** Pending page sessions of one client network (IPv4 address, IPv6 /64); 429 past it. */
  maxPageSessionsPerClient: number;
  /** Pending sessions of one API key; 429 past it. */
  maxSessionsPerApiKey: number;
  /** Bytes of instruction args one API key holds in sessions still kept; 429 past it. */
  maxArgsBytesPerApiKey: number;
}

export const DEFAULT_QUOTAS: Omit<QuotaSettings, "maxLiveSessions"> = {
  maxPageSessions: 2_000,
  maxPageSessionsPerClient: 32,
  maxSessionsPerApiKey: 5_000,
  maxArgsBytesPerApiKey: 32 * 1024 * 1024,
};

/** Who a session is for, as far as quotas go. */
export interface QuotaHolder {
  address: string;
  apiKeyId?: string;
}

/**
 * Holders whose quota lists are kept for reuse: the memory store keeps one list of group names per list it is
 * given, so sessions of one holder share it rather than each holding its own (about 100 bytes a session).
 */
const KEPT = 4096;

/**
 * The quotas of new sessions and instructions. A page's session counts for its client network and for all
 * pages; a backend's for all API keys (--max-sessions) and for its own key: so pages, from however many
 * addresses, never take the room the backends' sessions have, nor one key the room of another.
 */
export function quotas(settings: QuotaSettings) {
  // by API key id and by client network: a backend's list is found by its key's id alone, no name made per session
  const byKey = new Map<string, Quota[]>();
  const byNetwork = new Map<string, Quota[]>();
  const keep = (kept: Map<string, Quota[]>, holder: string, made: Quota[]) => {
    if (kept.size >= KEPT) kept.clear(); // bounded; a holder dropped gets a new list next time
    kept.set(holder, made);
    return made;
  };
  return {
    /** What a new session of `who` counts in, in the order they are checked. */
    session(who: QuotaHolder): readonly Quota[] {
      if (who.apiKeyId !== undefined) {
        const found = byKey.get(who.apiKeyId);
        if (found !== undefined) return found;
        const key = `key:${who.apiKeyId}`;
        const max = settings.maxSessionsPerApiKey;
        return keep(byKey, who.apiKeyId, [
          { group: "keys", max: settings.maxLiveSessions, refusal: () => liveCapError(settings.maxLiveSessions) },
          {
            group: key,
            max,
            refusal: () =>
              new RateLimitError(
                `this API key holds ${max} pending sessions, its most; retry as they link or expire`,
                1,
              ),
          },
        ]);
      }
      const net = `net:${clientNetwork(who.address)}`;
      const perClient = settings.maxPageSessionsPerClient;
      const all = settings.maxPageSessions;
      return (
        byNetwork.get(net) ??
        keep(byNetwork, net, [
          {
            group: net,
            max: perClient,
            refusal: () =>
              new RateLimitError(
                `pages from this network hold ${perClient} pending sessions, their most; retry as they link or expire`,
                1,
              ),
          },
          {
            group: "pages",
            max: all,
            refusal: () => new CapacityError(`too many pending page sessions (${all}); try again shortly`),
          },
        ])
      );
    },
    /**
     * What queueing `bytes` of args costs API key `apiKeyId`: held until the session is forgotten (its expiry
     * plus the retention), or one key could grow the server without end. None for empty args.
     */
    args(apiKeyId: string, bytes: number): Hold | undefined {
      if (bytes === 0) return undefined;
      const max = settings.maxArgsBytesPerApiKey;
      return {
        group: `key:${apiKeyId}`,
        bytes,
        max,
        refusal: () =>
          new RateLimitError(
            `this API key holds ${max} bytes of instruction args in kept sessions, its most; retry as they are let go`,
            10,
          ),
      };
    },
    /** All sessions pending at once, pages and keys together: the store's own cap. */
    maxLive: settings.maxLiveSessions + settings.maxPageSessions,
  };
}
