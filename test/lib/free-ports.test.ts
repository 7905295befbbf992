// Ports picked at run time stay out of the OS's ephemeral range, which outgoing connections draw from: a port the
// OS picked (port 0) could be taken by any connection before the test's Redis bound it (a CI failure).
import { expect, test } from "bun:test";
import { osEphemeralRange } from "../../src/lib/ephemeral-range.ts";
import { BROWSER_REFUSED_PORTS, findFreePort, findFreeRange } from "../../src/lib/ports.ts";

test("findFreePort and findFreeRange pick bindable ports below this machine's ephemeral range", () => {
  const ephemeral = osEphemeralRange();
  for (let i = 0; i < 50; i++) {
    const port = findFreePort();
    expect(port).toBeLessThan(ephemeral.start);
    expect(BROWSER_REFUSED_PORTS.has(port)).toBe(false);
    Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true); // throws if it was not free
  }
  const range = findFreeRange(64);
  expect(range.end).toBeLessThan(ephemeral.start);
});

test("a bound narrows the pick (a Redis Cluster node's bus port is its port + 10000)", () => {
  for (let i = 0; i < 50; i++) expect(findFreePort("127.0.0.1", 22_768) + 10_000).toBeLessThan(32_768);
});
