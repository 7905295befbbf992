// What a service says links can do with the ports it could not bind: each strategy's claims, bounded by the server's limits.
import { expect, test } from "bun:test";
import type { ServiceConfig } from "../../src/protocol/schemas.ts";
import { portOutlook } from "../../src/service/port-outlook.ts";

/** A server's config: 64 ports, codes of 3 x 4 knocks, at most 3 missing, 16 failed ports claimed, 2,048 completions. */
function config(bindFailure: string): ServiceConfig {
  return {
    range: { start: 29_170, end: 29_233 },
    tuples: 3,
    portsPerTuple: 4,
    ttlMs: 30_000,
    settleMs: 150,
    idleMs: 300,
    bindFailure,
    maxCompletions: 2048,
    maxMissing: 3,
    maxFailed: 16,
  } as ServiceConfig;
}

test("every port held: every link can succeed, whatever the strategy", () => {
  expect(portOutlook(config("server-match"), 0).share).toBe(1);
  expect(portOutlook(config("enumerate"), 0).share).toBe(1);
});

test("more failed ports than --max-failed: server-match claims them all and links nothing; enumerate still links codes it saw whole", () => {
  const serverMatch = portOutlook(config("server-match"), 20);
  expect(serverMatch.share).toBe(0);
  expect(serverMatch.sentence).toContain("server-match claims all 20 failed ports");
  const enumerate = portOutlook(config("enumerate"), 20);
  expect(enumerate.share).toBeGreaterThan(0);
  expect(enumerate.share).toBeLessThan(1);
  expect(enumerate.sentence).toContain("enumerate fills in failed ports");
});

test("a strategy this build does not know is taken to claim failed ports only when a knock is missing", () => {
  expect(portOutlook(config("future-strategy"), 20).share).toBe(portOutlook(config("enumerate"), 20).share);
});
