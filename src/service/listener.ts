// Holds every port of the range on loopback, and hands each accepted connection to attribution while it is open.
import type { Socket, TCPSocketListener } from "bun";
import type { Logger } from "../lib/log.ts";
import type { PortRange } from "../protocol/ports.ts";
import type { KnockSocket } from "./attribution/types.ts";

export interface ListenerOptions {
  range: PortRange;
  /** Address to bind; loopback only unless the operator says otherwise. Default 127.0.0.1. */
  host?: string;
  /** Ports not to bind, as if something else held them. */
  skip?: readonly number[];
  /** Connections held open at once; more are closed at once, unattributed. Default 1024. */
  maxOpen?: number;
  /** A connection is closed after this long even if attribution has not finished, in ms. Default 5000. */
  holdMs?: number;
  log: Logger;
  /**
   * Called for every accepted connection; the connection stays open until the promise settles,
   * because the browser closes its side within ~20 ms and the owner can only be found while it is open.
   */
  onKnock(socket: KnockSocket): Promise<void>;
}

export interface PortListener {
  held: number[];
  failed: { port: number; reason: string }[];
  /**
   * Tries again to bind the ports that failed (not the skipped ones): those bound now move from `failed` to
   * `held` (both arrays change in place). Returns them, sorted.
   */
  retry(): number[];
  stop(): void;
}

const DROP_REPORT_MS = 10_000;

interface ConnState {
  timer?: ReturnType<typeof setTimeout>;
}

/** Binds the range; ports that cannot be bound are recorded, never fatal. */
export function listenOnRange(options: ListenerOptions): PortListener {
  const host = options.host ?? "127.0.0.1";
  const maxOpen = options.maxOpen ?? 1024;
  const holdMs = options.holdMs ?? 5000;
  const skip = new Set(options.skip ?? []);
  const listeners: TCPSocketListener<ConnState>[] = [];
  const held: number[] = [];
  const failed: { port: number; reason: string }[] = [];
  let openCount = 0;
  // Connections refused over the cap, told to the operator at most once per DROP_REPORT_MS.
  let dropped = 0;
  let dropReport: ReturnType<typeof setTimeout> | undefined;
  const reportDrops = () => {
    options.log.warn(`closed ${dropped} connections unattributed within ${DROP_REPORT_MS / 1000} s: more than ${maxOpen} were open at once (a flood?)`);
    dropped = 0;
    dropReport = undefined;
  };

  const handlers = {
    open(socket: Socket<ConnState>) {
      if (openCount >= maxOpen) {
        socket.terminate();
        dropped++;
        dropReport ??= setTimeout(reportDrops, DROP_REPORT_MS);
        return;
      }
      openCount++;
      socket.data = { timer: setTimeout(() => socket.terminate(), holdMs) };
      const knock: KnockSocket = {
        localAddress: socket.localAddress ?? host,
        localPort: socket.localPort,
        remoteAddress: socket.remoteAddress,
        remotePort: socket.remotePort,
      };
      // Close with a reset, not a FIN: a graceful close leaves a TIME_WAIT row in /proc/net/tcp for
      // 60 s, and every knock's attribution reads that table, so it would grow slower with every knock.
      options.onKnock(knock).then(
        () => socket.terminate(),
        (error: unknown) => {
          options.log.warn("knock handling failed", { port: knock.localPort, error: (error as Error).message });
          socket.terminate();
        },
      );
    },
    data() {
      // A knock carries no data; whatever a browser sends (an HTTP request, a TLS hello) is ignored.
    },
    close(socket: Socket<ConnState>) {
      if (socket.data?.timer) {
        clearTimeout(socket.data.timer);
        socket.data.timer = undefined;
        openCount--;
      }
    },
    error() {},
  };

  /** Binds one port; the reason it could not be bound otherwise. */
  const bindPort = (port: number): string | undefined => {
    try {
      listeners.push(Bun.listen<ConnState>({ hostname: host, port, socket: handlers }));
      return undefined;
    } catch (error) {
      return (error as { code?: string }).code ?? (error as Error).message;
    }
  };

  for (let port = options.range.start; port <= options.range.end; port++) {
    if (skip.has(port)) {
      failed.push({ port, reason: "skipped" });
      continue;
    }
    const reason = bindPort(port);
    if (reason === undefined) held.push(port);
    else failed.push({ port, reason });
  }
  let stopped = false;

  return {
    held,
    failed,
    retry() {
      if (stopped) return [];
      const regained: number[] = [];
      for (let i = failed.length - 1; i >= 0; i--) {
        const { port, reason } = failed[i]!;
        if (reason === "skipped") continue;
        const again = bindPort(port);
        if (again === undefined) {
          failed.splice(i, 1);
          regained.push(port);
        } else failed[i] = { port, reason: again };
      }
      held.push(...regained);
      held.sort((a, b) => a - b);
      return regained.sort((a, b) => a - b);
    },
    stop() {
      stopped = true;
      if (dropReport) {
        clearTimeout(dropReport);
        reportDrops();
      }
      for (const listener of listeners) listener.stop(true);
      listeners.length = 0;
    },
  };
}
