// Holds every port of the range on loopback, and hands each accepted connection to attribution while it is open.
import type { Socket, TCPSocketListener } from "bun";
import type { Logger } from "../lib/log.ts";
import type { PortRange } from "../lib/ports.ts";
import type { KnockSocket } from "./attribution/types.ts";
import { MAX_HEAD_BYTES, readKnockHead } from "./knock-origin.ts";

export interface ListenerOptions {
  range: PortRange;
  /** Address to bind; loopback only unless the operator says otherwise. Default 127.0.0.1. */
  host?: string;
  /** Ports not to bind, as if something else held them. */
  skip?: readonly number[];
  /**
   * Connections held open at once. Past it, the oldest one that has sent nothing yet is closed to make
   * room (idle junk must not crowd out knocks), or, when every one has sent something, the new one is
   * closed at once, unattributed. Default 1024.
   */
  maxOpen?: number;
  /** A connection is closed after this long even if attribution has not finished, in ms. Default 5000. */
  holdMs?: number;
  /**
   * How long to wait for a knock's first bytes (its HTTP head, with the page's `Origin`), in ms. A knock
   * that sends nothing by then proves no origin. Default 1000: browsers send the head as they connect,
   * or, on a socket they opened ahead (Chromium preconnects to hosts a page fetched before), when the
   * page's fetch comes; a knock the browser holds back (Local Network Access) closes within ~70 ms.
   */
  headMs?: number;
  log: Logger;
  /**
   * Called for every accepted connection; the connection stays open until the promise settles,
   * because the browser closes its side within ~20 ms and the owner can only be found while it is open.
   * `origin` settles with the web origin the knock's first bytes prove (undefined: none); it never rejects.
   */
  onKnock(socket: KnockSocket, origin: Promise<string | undefined>): Promise<void>;
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
  /** The first bytes, as latin1 text, until the origin is known; bounded by MAX_HEAD_BYTES. */
  head: string;
  /** Settles the knock's origin; cleared once it has. */
  settle?: (origin: string | undefined) => void;
  headTimer?: ReturnType<typeof setTimeout>;
}

/** Reads the head so far; settles the origin once it is known or no more bytes will count. */
function readHead(state: ConnState, final: boolean): void {
  if (!state.settle) return;
  const verdict = readKnockHead(state.head, final || state.head.length >= MAX_HEAD_BYTES);
  if (!verdict.done) return;
  const settle = state.settle;
  state.settle = undefined;
  state.head = "";
  clearTimeout(state.headTimer);
  settle(verdict.origin);
}

/** Binds the range; ports that cannot be bound are recorded, never fatal. */
export function listenOnRange(options: ListenerOptions): PortListener {
  const host = options.host ?? "127.0.0.1";
  const maxOpen = options.maxOpen ?? 1024;
  const holdMs = options.holdMs ?? 5000;
  const headMs = options.headMs ?? 1000;
  const skip = new Set(options.skip ?? []);
  const listeners: TCPSocketListener<ConnState>[] = [];
  const held: number[] = [];
  const failed: { port: number; reason: string }[] = [];
  let openCount = 0;
  // Open connections that have sent nothing yet, oldest first: the first to go when the cap is reached.
  const silent = new Set<Socket<ConnState>>();
  // Connections refused over the cap, told to the operator at most once per DROP_REPORT_MS.
  let dropped = 0;
  let dropReport: ReturnType<typeof setTimeout> | undefined;
  const reportDrops = () => {
    options.log.warn(
      `closed ${dropped} connections unattributed within ${DROP_REPORT_MS / 1000} s: more than ${maxOpen} were open at once (a flood?)`,
    );
    dropped = 0;
    dropReport = undefined;
  };

  const handlers = {
    open(socket: Socket<ConnState>) {
      if (openCount >= maxOpen && silent.size > 0) {
        const oldest = silent.values().next().value!;
        silent.delete(oldest);
        // Its slot is freed here, not in its close handler (which may run later); that settles its origin (none).
        clearTimeout(oldest.data.timer);
        oldest.data.timer = undefined;
        openCount--;
        oldest.terminate();
        dropped++;
        dropReport ??= setTimeout(reportDrops, DROP_REPORT_MS);
      }
      if (openCount >= maxOpen) {
        socket.terminate();
        dropped++;
        dropReport ??= setTimeout(reportDrops, DROP_REPORT_MS);
        return;
      }
      openCount++;
      const state: ConnState = { timer: setTimeout(() => socket.terminate(), holdMs), head: "" };
      socket.data = state;
      silent.add(socket);
      // Read while attribution runs: the browser writes its request head right after connecting.
      const origin = new Promise<string | undefined>((resolve) => {
        state.settle = resolve;
      });
      state.headTimer = setTimeout(() => readHead(state, true), headMs);
      const knock: KnockSocket = {
        localAddress: socket.localAddress ?? host,
        localPort: socket.localPort,
        remoteAddress: socket.remoteAddress,
        remotePort: socket.remotePort,
      };
      // Close with a reset, not a FIN: a graceful close leaves a TIME_WAIT row in /proc/net/tcp for
      // 60 s, and every knock's attribution reads that table, so it would grow slower with every knock.
      options.onKnock(knock, origin).then(
        () => socket.terminate(),
        (error: unknown) => {
          options.log.warn("knock handling failed", { port: knock.localPort, error: (error as Error).message });
          socket.terminate();
        },
      );
    },
    data(socket: Socket<ConnState>, data: Buffer) {
      // Only the head is read (for the page's Origin); the rest of what a browser sends is ignored.
      silent.delete(socket);
      const state = socket.data;
      if (!state?.settle) return;
      state.head += data.toString("latin1", 0, Math.min(data.length, MAX_HEAD_BYTES - state.head.length));
      readHead(state, false);
    },
    close(socket: Socket<ConnState>) {
      silent.delete(socket);
      if (socket.data) readHead(socket.data, true);
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
