// The knock schedule: each tuple's ports at once, a pause once they have landed, then the next tuple.
import type { KnockResult, KnockTransport } from "../protocol/transport.ts";

export interface KnockOptions {
  host?: string;
  /** The origin CLI transports state in each knock (see KnockTarget.origin). */
  origin?: string;
  /** Pause between tuples, in ms. */
  settleMs: number;
  /** Longest a single knock may stay open, in ms; the service closes it sooner, once it knows who knocked. Default 5000. */
  holdMs?: number;
  signal?: AbortSignal;
  /** Called as each knock goes out. */
  onStart?(port: number, tuple: number): void;
  /** Called as each knock finishes. */
  onKnock?(result: KnockResult, tuple: number): void;
  /** Called once every knock of a tuple has landed (or finished, for a transport that cannot tell). */
  onLanded?(tuple: number): void;
}

/** setTimeout as a promise: this schedule also runs in the browser module, where Bun.sleep does not exist. */
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Knocks every tuple in order and returns each knock's result, in schedule order. The next tuple goes
 * out once every knock of this one has landed (or finished, for a transport that cannot tell), plus the
 * settle pause; knocks stay held meanwhile, until the service closes them, so a whole code is attributed
 * in one pass rather than one round trip per tuple.
 */
export async function knockTuples(
  transport: KnockTransport,
  tuples: number[][],
  options: KnockOptions,
): Promise<KnockResult[]> {
  const host = options.host ?? "127.0.0.1";
  const holdMs = options.holdMs ?? 5000;
  const held: Promise<KnockResult>[] = [];
  for (const [index, tuple] of tuples.entries()) {
    if (options.signal?.aborted) break;
    // One hold for the tuple's knocks, which start together: a timer and a signal per knock cost a cold
    // client process about as much as the connects themselves.
    const hold = AbortSignal.timeout(holdMs);
    const signal = options.signal ? AbortSignal.any([hold, options.signal]) : hold;
    const ready = tuple.map((port) => {
      options.onStart?.(port, index);
      let landed!: () => void;
      const open = new Promise<void>((resolve) => (landed = resolve));
      const done = transport
        .knock({ host, port, ...(options.origin ? { origin: options.origin } : {}) }, signal, { landed })
        .then((result) => {
          options.onKnock?.(result, index);
          return result;
        });
      held.push(done);
      return Promise.race([open, done]);
    });
    await Promise.all(ready);
    options.onLanded?.(index);
    if (index < tuples.length - 1 && options.settleMs > 0) await sleep(options.settleMs);
  }
  return Promise.all(held);
}
