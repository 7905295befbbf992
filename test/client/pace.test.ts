// The CLI client knocks the whole code at once by default (the code is a set), and tuple by tuple when asked.
import { describe, expect, test } from "bun:test";
import { runClient } from "../../src/client/index.ts";
import type { KnockTransport } from "../../src/protocol/transport.ts";
import { testServer } from "../helpers.ts";

/** A transport that knocks nothing: each knock is refused a tick after it starts; the order of starts and ends is kept. */
function recording() {
  const events: string[] = [];
  const transport: KnockTransport = {
    name: "recording",
    async knock({ port }) {
      events.push("start");
      await Bun.sleep(1);
      events.push("end");
      return { port, landed: false, ms: 1, error: "refused" };
    },
  };
  return { events, transport };
}

describe("pkipc client's knock pace", () => {
  test("together (the default): every port of the code goes out before any knock has finished", async () => {
    const server = await testServer();
    const { events, transport } = recording();
    const result = await runClient({ server: server.url, apiKey: server.apiKey, transport, timeoutMs: 5000 });
    expect(result.code).toBe("NO_SERVICE");
    const knocks = result.tuples.flat().length;
    expect(knocks).toBeGreaterThan(result.tuples[0]!.length);
    expect(events.slice(0, knocks)).toEqual(Array(knocks).fill("start"));
  });

  test("tuples: the next tuple goes out only once the previous one's knocks have finished", async () => {
    const server = await testServer();
    const { events, transport } = recording();
    const result = await runClient({
      server: server.url,
      apiKey: server.apiKey,
      transport,
      timeoutMs: 5000,
      pace: "tuples",
    });
    expect(result.code).toBe("NO_SERVICE");
    const width = result.tuples[0]!.length;
    expect(events.slice(0, 2 * width)).toEqual([...Array(width).fill("start"), ...Array(width).fill("end")]);
  });
});
