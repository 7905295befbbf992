// The transport contract, run on every knock transport (the CLI's in Bun, the browser's in a real page), on real sockets bound to 127.0.0.1.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { findFreePort } from "../../../src/lib/ports.ts";
import type { KnockResult, KnockTarget } from "../../../src/protocol/transport.ts";
import { readKnockHead } from "../../../src/service/knock-origin.ts";
import { onCleanup } from "../../helpers.ts";

/** When the knock's signal aborts: already before the knock, or this many ms after it starts. */
export type Abort = { already: true } | { afterMs: number };

/** One transport as the contract drives it: its knock runs where the transport runs (in Bun, or in a page). */
export interface TransportUnderTest {
  readonly name: string;
  knock(target: KnockTarget, abort: Abort): Promise<KnockResult>;
  /** The origin a knock with `target.origin = given` states in its first bytes, as the service reads them (undefined: none). */
  statedOrigin(given: string): string | undefined;
}

/** How a suite gets its transport, as js-libp2p's interface tests take theirs: made once, torn down after the last test. */
export interface TransportSetup {
  setup(): Promise<TransportUnderTest>;
  teardown?(): Promise<void>;
}

/**
 * A listener that records each connection and the origin its first bytes state, and closes it after
 * `holdMs`, as the service does after attribution (or once the head is read, with `closeOnHead`).
 */
function listener(holdMs: number, closeOnHead = false) {
  const accepted: number[] = [];
  const origins: Array<string | undefined> = [];
  const heads = new Map<object, string>();
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        accepted.push(socket.remotePort);
        heads.set(socket, "");
        setTimeout(() => socket.end(), holdMs);
      },
      data(socket, bytes) {
        const head = (heads.get(socket) ?? "") + bytes.toString("latin1");
        heads.set(socket, head.slice(0, 16 * 1024));
        const verdict = readKnockHead(head, head.length >= 16 * 1024);
        if (verdict.done && heads.has(socket)) {
          origins.push(verdict.origin);
          heads.delete(socket);
          if (closeOnHead) socket.end();
        }
      },
      close(socket) {
        // The peer closed before its head was whole: what arrived decides, as it does in the service.
        const head = heads.get(socket);
        if (head !== undefined) {
          const verdict = readKnockHead(head, true);
          origins.push(verdict.done ? verdict.origin : undefined);
          heads.delete(socket);
        }
      },
    },
  });
  onCleanup(() => server.stop(true));
  return { port: server.port, accepted, origins };
}

/** The contract every knock transport keeps; call it once per transport with that transport's setup. */
export function transportContract(name: string, setup: TransportSetup): void {
  describe(`transport contract: ${name}`, () => {
    let transport: TransportUnderTest;
    beforeAll(async () => {
      transport = await setup.setup();
    });
    afterAll(async () => {
      await setup.teardown?.();
    });

    test("a knock reaches the listener and ends when the listener closes", async () => {
      const { port, accepted } = listener(30);
      const result = await transport.knock({ host: "127.0.0.1", port }, { afterMs: 5000 });
      expect(accepted.length).toBeGreaterThanOrEqual(1);
      expect(result.port).toBe(port);
      expect(result.landed).not.toBe(false);
      expect(result.error ?? "").not.toBe("aborted");
    });

    test("a knock on a port nobody holds does not land and does not throw", async () => {
      const port = findFreePort();
      const result = await transport.knock({ host: "127.0.0.1", port }, { afterMs: 5000 });
      expect(result.port).toBe(port);
      expect(result.landed).not.toBe(true);
    });

    test("a listener that never closes is let go when the signal aborts", async () => {
      const { port, accepted } = listener(60_000);
      const result = await transport.knock({ host: "127.0.0.1", port }, { afterMs: 500 });
      expect(accepted.length).toBeGreaterThanOrEqual(1);
      expect(result.port).toBe(port);
    });

    test("an already aborted signal knocks nothing", async () => {
      const { port, accepted } = listener(10);
      const result = await transport.knock({ host: "127.0.0.1", port }, { already: true });
      await Bun.sleep(100);
      expect(accepted.length).toBe(0);
      expect(result.landed).not.toBe(true);
    });

    test("a knock states the origin it can in its first bytes, as the service reads them", async () => {
      const { port, origins } = listener(5000, true);
      const given = "https://saas.example:8443";
      await transport.knock({ host: "127.0.0.1", port, origin: given }, { afterMs: 5000 });
      const deadline = Date.now() + 5000;
      while (origins.length === 0 && Date.now() < deadline) await Bun.sleep(20);
      expect(origins.length).toBeGreaterThanOrEqual(1);
      expect(origins[0]).toBe(transport.statedOrigin(given));
    });
  });
}
