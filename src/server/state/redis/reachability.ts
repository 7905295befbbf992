// Whether the Redis store answers, as every kind of connection (one node, Sentinel, Cluster) tells the log: each change once.
import { ReplyError } from "ioredis";
import { StoreUnavailableError } from "../../../lib/errors.ts";
import type { Logger } from "../../../lib/log.ts";

/**
 * Whether an ioredis failure is Redis refusing a command (a fault of ours: 500) rather than Redis being away or
 * between primaries (503). READONLY is a primary demoted under us (the connection is made again to the new one);
 * UNBLOCKED a WAIT cut short by that demotion; CLUSTERDOWN, MOVED, ASK and TRYAGAIN a Cluster moving a slot.
 */
export const refusedReply = (error: unknown) =>
  error instanceof ReplyError &&
  !/^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|UNBLOCKED|CLUSTERDOWN|MOVED|ASK)/.test((error as Error).message);

export interface Reachability {
  /** A command failed for want of Redis (not a refusal): logs the loss once, until cameBack. */
  wentAway(error?: unknown): void;
  /** Redis answered: logs the return once after a loss. */
  cameBack(): void;
  /** The 503 a request gets meanwhile, keeping what failed as its cause. */
  unavailable(error: unknown): StoreUnavailableError;
  /** From now on the connection is being closed on purpose: nothing more is logged. */
  close(): void;
  readonly closing: boolean;
}

/** Tracks whether Redis was away at the last word from it; `waitingFor` says what a 503 may be waiting for. */
export function reachability(where: string, log: Logger, waitingFor = "is unreachable"): Reachability {
  let down = false;
  let closing = false;
  return {
    wentAway(error) {
      if (down || closing) return;
      down = true;
      log.warn("the Redis store is unreachable; requests that need it get 503 until it answers", {
        store: where,
        error: (error as Error | undefined)?.message ?? "connection closed",
      });
    },
    cameBack() {
      if (!down) return;
      down = false;
      log.info("the Redis store is reachable again", { store: where });
    },
    unavailable: (error) =>
      new StoreUnavailableError(`the shared store (${where}) ${waitingFor}; try again shortly`, { cause: error }),
    close() {
      closing = true;
    },
    get closing() {
      return closing;
    },
  };
}
