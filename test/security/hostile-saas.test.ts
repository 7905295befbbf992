// A hostile or compromised SaaS against the user's computer: it names a range that takes the machine's
// loopback, or answers a config read, a pull, a client's or an admin's call with a body that never ends.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { osEphemeralRange } from "../../src/lib/ephemeral-range.ts";
import { MAX_RESPONSE_BYTES } from "../../src/lib/bounded-fetch.ts";
import { findFreeRange } from "../../src/lib/ports.ts";
import { apiClient } from "../../src/protocol/api-client.ts";
import type { PortRange } from "../../src/lib/ports.ts";
import { writeKeyFile } from "../../src/service/key-file.ts";
import { configFor, type HostileSaas, rssMiB, socketCount, startHostileSaas } from "../fixtures/hostile-saas.ts";
import {
  eventually,
  onCleanup,
  spawnPkipc,
  TEST_ALLOWED_PROCESSES,
  TEST_USER,
  tempFolder,
  watchLines,
} from "../helpers.ts";

/** The bound the issue sets for the service under an endless answer. */
const MAX_RSS_MIB = 100;
/** What every refusal of an endless answer says. */
const TOO_LARGE = new RegExp(`answered more than ${MAX_RESPONSE_BYTES} bytes`);

/** The hostile server, stopped after the test. */
function hostileSaas(): HostileSaas {
  const saas = startHostileSaas();
  onCleanup(() => saas.stop());
  return saas;
}

const shown = (r: PortRange) => `${r.start}-${r.end}`;

/**
 * Ranges a service must never hold, smallest harm first: run against a service that binds whatever it
 * is told (6bd6c72), the test fails on the first, before the full 20,000 ports would take this shared
 * machine's outgoing connections.
 */
function hostileRanges(): Array<{ range: PortRange; bound: RegExp }> {
  const ephemeral = osEphemeralRange();
  const inside = { start: ephemeral.start + 2000, end: ephemeral.start + 2063 };
  return [
    { range: inside, bound: new RegExp(`ephemeral ports ${ephemeral.start}-${ephemeral.end}`) },
    { range: { start: 960, end: 1023 }, bound: /below port 1024/ },
    { range: { start: 20_000, end: 20_999 }, bound: /1000 ports, more than the 256/ },
    { range: { start: 40_000, end: 59_999 }, bound: /ephemeral ports/ },
  ];
}

/** `pkipc service` (the real binary) against the hostile server, with a key file of its own. */
function serviceAgainst(saas: HostileSaas, args: string[] = []) {
  const keyFile = join(tempFolder(), "key.json");
  writeKeyFile(keyFile, { serviceId: "hostile-test-service", key: "A".repeat(43) }, saas.url);
  const child = spawnPkipc([
    "service",
    "--server",
    saas.url,
    "--key-file",
    keyFile,
    "--allow-processes",
    TEST_ALLOWED_PROCESSES.join(","),
    "--users",
    TEST_USER,
    "--config-refresh",
    "300ms",
    ...args,
  ]);
  return { child, log: watchLines(child.stderr) };
}

/** Samples a process's RSS every 200 ms for `ms`; the largest seen, in MiB. */
async function peakRss(pid: number, ms: number): Promise<number> {
  let peak = 0;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    peak = Math.max(peak, rssMiB(pid) ?? 0);
    await Bun.sleep(200);
  }
  return peak;
}

describe("a hostile SaaS names a range that would take the user's loopback", () => {
  test("at start: each range below 1024, inside the ephemeral range or over --max-ports is refused with one sentence, and nothing is bound", async () => {
    for (const { range, bound } of hostileRanges()) {
      const saas = hostileSaas();
      saas.config = { json: configFor(range) };
      const { child, log } = serviceAgainst(saas);
      // A service that binds it says "holding"; one that refuses exits.
      const outcome = await Promise.race([
        child.exited.then((code) => ({ code, held: false })),
        log.waitFor(/holding \d+ of \d+ ports/, 30_000).then(() => ({ code: undefined, held: true })),
      ]);
      expect(outcome.held, `range ${shown(range)}: ${log.lines.join("\n")}`).toBe(false);
      expect(outcome.code).not.toBe(0);
      const said = log.lines.join("\n");
      expect(said).toContain(`the server's range ${shown(range)}`);
      expect(said).toMatch(bound);
    }
  });

  test("after a good config: each hostile range is refused with a log line naming it and the bound, and the last good range stays held", async () => {
    const saas = hostileSaas();
    const good = findFreeRange(64);
    saas.config = { json: configFor(good) };
    const { child, log } = serviceAgainst(saas);
    await log.waitFor(/holding 64 of 64 ports/, 20_000);
    for (const { range, bound } of hostileRanges()) {
      saas.config = { json: configFor(range) };
      const line = await log.waitFor(
        new RegExp(`the server's range ${shown(range)}.*refused, keeping ${shown(good)}`),
        20_000,
      );
      expect(line[0]).toMatch(bound);
      // The good range's 64 listeners, and a few connections to the server: never the hostile range's ports.
      const sockets = socketCount(child.pid);
      expect(sockets).toBeGreaterThanOrEqual(64);
      expect(sockets).toBeLessThan(64 + 32);
    }
    expect(log.lines.some((l) => l.includes("rebinding"))).toBe(false);
    // Refused once each, not at every check.
    const refusals = log.lines.filter((l) => l.includes("refused, keeping"));
    expect(refusals).toHaveLength(hostileRanges().length);
    expect(child.exitCode).toBeNull();
  });
});

describe("a hostile SaaS answers with a body that never ends", () => {
  test("the service reads at most 1 MiB of an endless config and an endless pull, stays under 100 MiB, says so, and keeps asking", async () => {
    const saas = hostileSaas();
    const range = findFreeRange(64);
    saas.config = { json: configFor(range) };
    const { child, log } = serviceAgainst(saas);
    await log.waitFor(/holding 64 of 64 ports/, 20_000);
    const before = rssMiB(child.pid)!;

    // From now on every config read and every pull of a link's instructions is endless; one knock links.
    saas.config = "endless";
    saas.pull = "endless";
    // The knock says its page's origin, as a browser's fetch does: a knock that proves none is not reported.
    const request = `GET / HTTP/1.1\r\nHost: 127.0.0.1:${range.start}\r\nOrigin: https://saas.example\r\n\r\n`;
    const knock = await Bun.connect({
      hostname: "127.0.0.1",
      port: range.start,
      socket: { open: (socket) => void socket.write(request), data() {} },
    });
    const peak = await peakRss(child.pid, 10_000);
    knock.end();
    const after = rssMiB(child.pid)!;
    console.log(
      `service RSS ${before.toFixed(1)} MiB before, ${peak.toFixed(1)} MiB at most over 10 s of endless answers, ${after.toFixed(1)} MiB after; ` +
        `${(saas.endlessBytes / 2 ** 20).toFixed(1)} MiB sent, ${saas.cancelled} bodies dropped by the reader, ` +
        `${saas.seen["GET /v1/config"]} config reads, ${saas.seen["GET /v1/links/ID/instructions"] ?? 0} pulls`,
    );

    expect(child.exitCode).toBeNull();
    expect(peak).toBeLessThan(MAX_RSS_MIB);
    const config = log.lines.find((l) => l.includes("could not check the server's configuration"));
    expect(config).toMatch(TOO_LARGE);
    expect(config).toContain(`GET ${saas.url}/v1/config`);
    const pull = log.lines.find((l) => l.includes("could not pull the link's instructions"));
    expect(pull).toMatch(TOO_LARGE);
    expect(pull).toContain(`GET ${saas.url}/v1/links/hostile-link/instructions`);
    // It keeps asking (with a pause that doubles), and still holds its range.
    expect(saas.seen["GET /v1/config"]!).toBeGreaterThanOrEqual(3);
    expect(saas.seen["GET /v1/links/ID/instructions"]!).toBeGreaterThanOrEqual(2);
    expect(saas.cancelled).toBeGreaterThanOrEqual(4);
    expect(socketCount(child.pid)).toBeGreaterThanOrEqual(64);
  });

  test("pkipc client stops at 1 MiB of an endless answer with a clear error", async () => {
    const saas = hostileSaas();
    const child = spawnPkipc(["client", "--server", saas.url, "--timeout", "20s"]);
    const stderr = new Response(child.stderr).text();
    let peak = 0;
    while (child.exitCode === null) {
      peak = Math.max(peak, rssMiB(child.pid) ?? 0);
      await Bun.sleep(50);
    }
    console.log(`pkipc client RSS at most ${peak.toFixed(1)} MiB`);
    expect(child.exitCode).not.toBe(0);
    expect(await stderr).toMatch(TOO_LARGE);
    expect(await stderr).toContain(`POST ${saas.url}/v1/sessions`);
    expect(peak).toBeLessThan(MAX_RSS_MIB);
  });

  test("pkipc admin stops at 1 MiB of an endless answer with a clear error", async () => {
    const saas = hostileSaas();
    const child = spawnPkipc(["admin", "services", "--server", saas.url], {
      PKIPC_ADMIN_SECRET: "a-long-enough-admin-secret",
    });
    const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(TOO_LARGE);
    expect(stderr).toContain(`GET ${saas.url}/v1/admin/services`);
  });

  test("the library's API client refuses an endless answer at 1 MiB, drops the connection, and a trickle at its deadline", async () => {
    const saas = hostileSaas();
    saas.config = "endless";
    const heapBefore = process.memoryUsage().rss;
    const started = performance.now();
    const error = await apiClient(saas.url, { timeoutMs: 20_000 })
      .config()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "RESPONSE_TOO_LARGE" });
    expect((error as Error).message).toContain(
      `GET ${saas.url}/v1/config answered more than ${MAX_RESPONSE_BYTES} bytes`,
    );
    // Long before its 20 s deadline: it stopped at the bound, it did not read on until time ran out.
    expect(performance.now() - started).toBeLessThan(10_000);
    await eventually(() => saas.cancelled >= 1, "the endless body to be cancelled", 5000);
    expect(saas.endlessBytes).toBeLessThan(64 * 2 ** 20);
    expect(process.memoryUsage().rss - heapBefore).toBeLessThan(64 * 2 ** 20);

    // A body that trickles a byte at a time never reaches the bound: the deadline ends it.
    const trickle = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () =>
        new Response(
          new ReadableStream({
            async pull(controller) {
              await Bun.sleep(100);
              controller.enqueue(new Uint8Array([0x20]));
            },
          }),
        ),
    });
    try {
      const slow = await apiClient(`http://127.0.0.1:${trickle.port}`, { timeoutMs: 1000 })
        .config()
        .catch((e: unknown) => e);
      expect(slow).toMatchObject({ code: "NETWORK" });
      expect((slow as Error).message).toContain("no answer within 1000 ms");
    } finally {
      trickle.stop(true);
    }
  });
});
