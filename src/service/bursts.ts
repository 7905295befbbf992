// Groups knocks by the process that made them and the web origin they carry, and decides when a burst is complete.
import type { ProcessInfo } from "../protocol/schemas.ts";

/** A finished burst: every distinct port one process knocked with one origin, plus ports whose knocks may have been lost. */
export interface Burst {
  process: ProcessInfo;
  /** The web origin every knock of the burst carried (its `Origin` header); undefined: none. */
  origin?: string;
  ports: number[];
  /** Ports this burst may hold but that were set aside as late duplicates of the previous burst. */
  uncertain: number[];
  /** Why it was flushed. */
  reason: "complete" | "idle" | "stopped";
}

export interface BurstOptions {
  /** Ports in a code: a burst that reaches it is reported at once. */
  knocks: number;
  /** Quiet gap after which an incomplete burst is reported anyway, in ms. */
  idleMs: number;
  /**
   * Fewest ports a burst needs to have any chance of linking (knocks minus the most that may be
   * missing). A smaller burst waits `lingerMs` instead of `idleMs` for more knocks: reporting it early
   * cannot link it, and on a loaded machine the next tuple can come later than the idle gap.
   */
  minPorts?: number;
  /**
   * Knocks a whole code may lack here because they cannot arrive: ports the service could not bind.
   * A burst short of more than these (plus its uncertain ports) cannot be a whole code yet, so it
   * waits `lingerMs`: browsers that delay repeated connections (WebSocket reconnect back-off) spread
   * one code over seconds. At most knocks - minPorts. Default: knocks - minPorts.
   */
  missable?: number;
  /** Quiet gap for a burst that cannot be a whole code yet, in ms. Default 10 x idleMs, at least 2000. */
  lingerMs?: number;
  /** A knock on a port of the process's previous burst within this window is taken as a browser retry, in ms. Default 1000. */
  duplicateWindowMs?: number;
  /** Groups (a process and an origin) tracked at once; past it the oldest burst is flushed early. Default 1024. */
  maxProcesses?: number;
  onBurst(burst: Burst): void;
}

interface Open {
  process: ProcessInfo;
  origin: string | undefined;
  ports: Set<number>;
  uncertain: Set<number>;
  /** The quiet gap running; set once the burst's first knock is in. */
  timer?: ReturnType<typeof setTimeout>;
}

export interface BurstTracker {
  /**
   * One knock of `process` on `port`, carrying `origin` (undefined: none). Knocks are grouped by process
   * and origin: every tab of a browser knocks from one process, and another tab's knocks (another origin,
   * or none) must never join this page's burst.
   */
  add(process: ProcessInfo, port: number, origin?: string): void;
  /** Flushes every open burst (at shutdown, so nothing seen is lost). */
  flushAll(): void;
}

export function createBurstTracker(options: BurstOptions): BurstTracker {
  const duplicateWindowMs = options.duplicateWindowMs ?? 1000;
  const maxProcesses = options.maxProcesses ?? 1024;
  const minPorts = options.minPorts ?? 0;
  const lingerMs = options.lingerMs ?? Math.max(options.idleMs * 10, 2000);
  const mayMiss = Math.max(0, options.knocks - minPorts);
  const missable = Math.min(options.missable ?? mayMiss, mayMiss);
  const quietGap = (burst: Pick<Open, "ports" | "uncertain">) =>
    burst.ports.size + Math.min(missable + burst.uncertain.size, mayMiss) >= options.knocks ? options.idleMs : lingerMs;
  // Keyed by process and origin ("PID ORIGIN"; "PID " for knocks without one).
  const open = new Map<string, Open>();
  // The ports of each group's last burst, and the repeats of them set aside since.
  const previous = new Map<string, { ports: Set<number>; dropped: Set<number>; until: number }>();

  function flush(key: string, reason: Burst["reason"]): void {
    const burst = open.get(key);
    if (!burst) return;
    clearTimeout(burst.timer);
    open.delete(key);
    previous.delete(key); // re-inserted last, so the oldest entry is the first to go past the bound
    previous.set(key, { ports: burst.ports, dropped: new Set(), until: Date.now() + duplicateWindowMs });
    if (previous.size > maxProcesses) previous.delete(previous.keys().next().value!);
    options.onBurst({
      process: burst.process,
      ...(burst.origin === undefined ? {} : { origin: burst.origin }),
      ports: [...burst.ports].sort((a, b) => a - b),
      uncertain: [...burst.uncertain].sort((a, b) => a - b),
      reason,
    });
  }

  return {
    add(process, port, origin) {
      const key = `${process.pid} ${origin ?? ""}`;
      let burst = open.get(key);
      const last = previous.get(key);
      // Browsers retry failed connections (TLS, Firefox http): a repeat of the burst just reported is
      // not a new knock. It might still be the first knock of a new code that reuses the port, so the
      // next burst counts it as a port it cannot be sure of, like a port the service failed to bind.
      if (last && last.until > Date.now() && last.ports.has(port)) {
        if (burst) burst.uncertain.add(port);
        else if (last.dropped.size < options.knocks) last.dropped.add(port);
        return;
      }
      if (!burst) {
        if (open.size >= maxProcesses) flush(open.keys().next().value!, "idle");
        burst = { process, origin, ports: new Set(), uncertain: new Set() };
        open.set(key, burst);
        if (last && last.until > Date.now()) for (const p of last.dropped) burst.uncertain.add(p);
      }
      // A repeat of a port already in the burst still shows the sequence is under way: it restarts the
      // quiet gap too (Firefox retries an http knock the service hung up on for ~400 ms, past the idle gap).
      if (!burst.ports.has(port)) {
        burst.ports.add(port);
        burst.uncertain.delete(port);
        if (burst.ports.size >= options.knocks) {
          flush(key, "complete");
          return;
        }
      }
      clearTimeout(burst.timer);
      burst.timer = setTimeout(() => flush(key, "idle"), quietGap(burst));
    },
    flushAll() {
      for (const key of [...open.keys()]) flush(key, "stopped");
    },
  };
}
