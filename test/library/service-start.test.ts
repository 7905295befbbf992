// pkipc/service's startService when its server cannot be reached: 0.3 threw NetworkError at once, and the library
// keeps that by default; an agent started offline asks for a wait, and a stop ends the wait.
import { expect, test } from "bun:test";
import { NetworkError, ServiceStoppedError } from "../../src/lib/errors.ts";
import { findFreePort } from "../../src/lib/ports.ts";
import { startService } from "../../src/library/service.ts";
import { onCleanup, serverProcess, TEST_USER } from "../helpers.ts";

// /v1/config answers anyone: a start gets as far as binding its range without a valid enrollment.
const credentials = { serviceId: "abcdefghijkl", key: "A".repeat(43) };
const nowhere = () => `http://127.0.0.1:${findFreePort()}`; // nothing listens there

test("by default a server that cannot be reached is a NetworkError at once, as in 0.3", async () => {
  const error = await startService({ server: nowhere(), credentials, users: [Number(TEST_USER)] }).catch((e) => e);
  expect(error).toBeInstanceOf(NetworkError);
});

test("with waitForServerMs it asks again until the wait is over, then throws what the last try met", async () => {
  const error = await startService({
    server: nowhere(),
    credentials,
    users: [Number(TEST_USER)],
    waitForServerMs: 1_500,
  }).catch((e) => e);
  expect(error).toBeInstanceOf(NetworkError);
});

test("a service started before its server binds its range once the server answers", async () => {
  const port = findFreePort();
  const starting = startService({
    server: `http://127.0.0.1:${port}`,
    credentials,
    users: [Number(TEST_USER)],
    waitForServerMs: 60_000,
  });
  await Bun.sleep(300);
  const server = await serverProcess(["--listen", `127.0.0.1:${port}`]);
  const service = await starting;
  onCleanup(() => service.stop());
  expect(service.config.range).toEqual({ start: server.range.start, end: server.range.end });
  expect(service.held.length).toBeGreaterThan(0);
});

test("a signal aborted while it waits ends the start with ServiceStoppedError (before: it waited forever)", async () => {
  const stop = new AbortController();
  const starting = startService({
    server: nowhere(),
    credentials,
    users: [Number(TEST_USER)],
    waitForServerMs: Number.POSITIVE_INFINITY,
    signal: stop.signal,
  }).catch((e) => e);
  await Bun.sleep(1_200); // past the first try and into its pause
  stop.abort();
  const error = await Promise.race([starting, Bun.sleep(10_000).then(() => "still waiting")]);
  expect(error).toBeInstanceOf(ServiceStoppedError);
});
