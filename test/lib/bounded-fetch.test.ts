// The one bounded reader: a hostile server's redirect is never followed (a signed request would go where it says).
import { expect, test } from "bun:test";
import { boundedFetch } from "../../src/lib/bounded-fetch.ts";
import { NetworkError } from "../../src/lib/errors.ts";
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
