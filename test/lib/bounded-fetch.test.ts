// The one bounded reader: a hostile server's redirect is never followed (a signed request would go where it says).
import { expect, test } from "bun:test";
import { boundedFetch } from "../../src/lib/bounded-fetch.ts";
import { NetworkError, ResponseTooLargeError } from "../../src/lib/errors.ts";
import { onCleanup } from "../cleanup.ts";

test("a redirect is refused with a sentence naming it, and its target never sees the request", async () => {
  let reached = 0;
  const target = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () => {
      reached++;
      return new Response("{}");
    },
  });
  onCleanup(() => target.stop(true));
  const hostile = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () =>
      new Response(null, { status: 307, headers: { location: `http://127.0.0.1:${target.port}/v1/report` } }),
  });
  onCleanup(() => hostile.stop(true));
  const attempt = boundedFetch(
    new URL(`http://127.0.0.1:${hostile.port}/v1/report`),
    { method: "POST", body: "{}" },
    { timeoutMs: 5_000 },
  );
  await expect(attempt).rejects.toBeInstanceOf(NetworkError);
  await expect(attempt).rejects.toThrow(
    /redirect \(307 to http:\/\/127\.0\.0\.1:\d+\/v1\/report\); pkipc follows none/,
  );
  expect(reached).toBe(0);
});

/** A raw HTTP/1.1 server on 127.0.0.1 that answers every request with `head` and `body` (and then holds the connection). */
function rawServer(head: string, body: Uint8Array = new Uint8Array()) {
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(socket) {
        socket.write(head);
        if (body.length) socket.write(body);
      },
    },
  });
  onCleanup(() => server.stop(true));
  return new URL(`http://127.0.0.1:${server.port}/v1/x`);
}

test("a body of declared length within the bound is read whole", async () => {
  const text = JSON.stringify({ ok: true, pad: "é".repeat(1000) });
  const bytes = new TextEncoder().encode(text);
  const url = rawServer(
    `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${bytes.length}\r\n\r\n`,
    bytes,
  );
  const answer = await boundedFetch(url, {}, { timeoutMs: 5_000, maxBytes: 4096 });
  expect(answer.text).toBe(text);
});

test("a compressed body of small declared length that inflates past the bound is refused", async () => {
  const zipped = Bun.gzipSync(new Uint8Array(2 << 20));
  const url = rawServer(
    `HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: ${zipped.length}\r\n\r\n`,
    zipped,
  );
  await expect(boundedFetch(url, {}, { timeoutMs: 5_000, maxBytes: 1 << 20 })).rejects.toBeInstanceOf(
    ResponseTooLargeError,
  );
});

test("a body of declared length that never comes whole ends at the deadline", async () => {
  const url = rawServer("HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n", new TextEncoder().encode("{"));
  const start = performance.now();
  await expect(boundedFetch(url, {}, { timeoutMs: 300 })).rejects.toThrow(/no answer within 300 ms/);
  expect(performance.now() - start).toBeLessThan(5_000);
});
