// Junk connections: 5,000 garbage, idle and half-open connections from one process while honest clients link.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ClientResult } from "../../src/client/index.ts";
import type { PortRange } from "../../src/lib/ports.ts";
import { parseTcpLine } from "../../src/service/attribution/linux/attributor.ts";
import type { Kind, Outcome } from "../fixtures/junk.ts";
import { BUN, onCleanup, ROOT, runPkipc, testServer, testService, watchLines } from "../helpers.ts";

/** The listener's documented bounds: connections held at once, and how long one is held at most. */
const MAX_OPEN = 1024;
const HOLD_MS = 5000;

const TOTAL = 5000;
/** Connections in flight at once in the junk process: more than the service may hold. */
const AT_ONCE = 1100;
/** Between waves of junk, in ms: five waves at least; honest clients start on the first three, two more follow. */
const WAVE_MS = 2500;
/** A junk connection the service has not closed by then never will be (three times the hold), in ms. */
const DEADLINE_MS = 3 * HOLD_MS;

/** What the junk fixture prints when every connection has ended. */
interface JunkSummary extends Omit<Outcome, "maxMsToPeerClose"> {
  pid: number;
  maxInFlight: number;
  ms: number;
  kinds: Record<Kind, Outcome>;
}

/** The junk process; its summary resolves once it exits (killed after the test if it has not). */
function junk(range: PortRange) {
  const child = Bun.spawn(
    [
      BUN,
      join(ROOT, "test/fixtures/junk.ts"),
      `${range.start}`,
      `${range.end}`,
      `${TOTAL}`,
      `${AT_ONCE}`,
      `${WAVE_MS}`,
      `${DEADLINE_MS}`,
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  onCleanup(async () => {
    if (child.exitCode === null) {
      child.kill("SIGKILL");
      await child.exited;
    }
  });
  const out = watchLines(child.stdout);
  const summary = child.exited.then(async (code) => {
    const stderr = await new Response(child.stderr).text();
    if (code !== 0) throw new Error(`junk fixture exited with ${code}: ${stderr}`);
    return { summary: JSON.parse(out.lines.at(-1) ?? "null") as JunkSummary, endedAt: performance.now() };
  });
  // a test that fails before awaiting it kills the fixture: that is no error of its own
  summary.catch(() => {});
  return { pid: child.pid, wave: (n: number) => out.waitFor(new RegExp(`^\\{"wave":${n},`), 30_000), summary };
}

/**
 * Samples, every 25 ms, how many connections to the range an accepting process holds (the service: no
 * one else listens there): rows of /proc/net/tcp with a local port in the range, past the accept queue
 * (a row's inode stays 0 until accept()) and not closed by the service yet. Counted by inode: the table
 * is read in several chunks while the kernel goes on changing it, so a row can be listed twice.
 * Not more often: it runs on the service's own event loop (reading the table every 5 ms slowed
 * attribution so much on a loaded machine that honest knocks timed out).
 */
function sampleHeld(range: PortRange) {
  const ESTABLISHED = 0x01;
  const CLOSE_WAIT = 0x08;
  const LOCAL_PORT = /^\s*\d+: [0-9A-F]+:([0-9A-F]{4}) /;
  const stats = { max: 0, samples: 0 };
  const timer = setInterval(() => {
    const held = new Set<number>();
    for (const line of readFileSync("/proc/net/tcp", "latin1").split("\n")) {
      // most rows are the junk's own ends: parse only those with a local port in the range
      const port = Number.parseInt(LOCAL_PORT.exec(line)?.[1] ?? "", 16);
      if (!(port >= range.start && port <= range.end)) continue;
      const row = parseTcpLine(line);
      if (row && row.inode !== 0 && (row.state === ESTABLISHED || row.state === CLOSE_WAIT)) held.add(row.inode);
    }
    stats.max = Math.max(stats.max, held.size);
    stats.samples++;
  }, 25);
  onCleanup(() => clearInterval(timer));
  return stats;
}

/** One `pkipc client` run against `server`, with its PID, its result and when its link reached the service. */
async function honestClient(server: string) {
  const run = await runPkipc(["client", "--server", server, "--json", "--timeout", "20s"]);
  if (run.code !== 0 && !run.stdout) throw new Error(`pkipc client exited with ${run.code}: ${run.stderr}`);
  return { pid: run.pid, result: JSON.parse(run.stdout) as ClientResult };
}

describe("junk connections during honest knocks", () => {
  test(`${TOTAL} garbage, idle and half-open connections: honest clients still link, the service holds at most ${MAX_OPEN} and closes every one`, async () => {
    const server = await testServer();
    const linkedAt = new Map<number, number>();
    const service = await testService(server.url, {
      onReport: (e) => {
        if (e.answer?.linked) linkedAt.set(e.burst.process.pid, performance.now());
      },
    });
    const held = sampleHeld(server.config.range);
    const flood = junk(server.config.range);
    // Two honest clients on each of the first three waves, so they knock while a wave is in flight.
    const runs = (
      await Promise.all(
        [1, 2, 3].map(async (wave) => {
          await flood.wave(wave);
          return Promise.all([honestClient(server.url), honestClient(server.url)]);
        }),
      )
    ).flat();
    const { summary, endedAt } = await flood.summary;

    for (const run of runs) {
      expect(run.result).toMatchObject({ linked: true, process: { pid: run.pid } });
      // linked while the junk was still coming, not after it
      expect(linkedAt.get(run.pid)).toBeLessThan(endedAt);
    }
    expect(new Set(runs.map((r) => r.result.sessionId)).size).toBe(runs.length);

    // The junk really happened: every connection was made, of every kind, more of them at once than the cap.
    expect(summary.pid).toBe(flood.pid);
    expect(summary.launched).toBe(TOTAL);
    expect(summary.refused + summary.neverConnected).toBeLessThan(TOTAL * 0.05);
    for (const kind of Object.values(summary.kinds)) expect(kind.launched).toBeGreaterThan(TOTAL / 4);
    expect(summary.maxInFlight).toBeGreaterThan(MAX_OPEN);
    // The service closed every one it was given, idle and half-open ones included, long before the junk gave up on them.
    for (const kind of Object.values(summary.kinds)) {
      expect(kind.stillOpen).toBe(0);
      expect(kind.closedByPeer + kind.refused + kind.neverConnected).toBe(kind.launched);
    }
    // ... and never held more than its cap at once.
    expect(held.samples).toBeGreaterThan(10);
    expect(held.max).toBeLessThanOrEqual(MAX_OPEN);
    // (and came near it: the junk did load it)
    expect(held.max).toBeGreaterThan(MAX_OPEN / 2);

    // The junk was seen and reported as that process's, and linked nothing.
    const junkReports = service.reports.filter((r) => r.burst.process.pid === flood.pid);
    expect(junkReports.length).toBeGreaterThan(0);
    expect(junkReports.filter((r) => r.answer?.linked)).toEqual([]);

    // The service is still there and still attributes once the junk has stopped.
    const after = await honestClient(server.url);
    expect(after.result).toMatchObject({ linked: true, process: { pid: after.pid } });
  });
});
