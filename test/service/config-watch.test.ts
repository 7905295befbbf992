// The config watcher on its own: a refused range is said once (again only after a good one), and failed
// checks wait a doubling pause before the next.
import { describe, expect, test } from "bun:test";
import { ResponseTooLargeError } from "../../src/lib/errors.ts";
import { createLogger } from "../../src/lib/log.ts";
import type { ServiceConfig } from "../../src/protocol/schemas.ts";
import { watchConfig } from "../../src/service/config-watch.ts";
import { configFor } from "../fixtures/hostile-saas.ts";

const good = configFor({ start: 29170, end: 29233 });
const bad = configFor({ start: 40000, end: 59999 });

function watcher(answers: Array<ServiceConfig | Error>) {
  const lines: string[] = [];
  const applied: ServiceConfig[] = [];
  let fetches = 0;
  const watch = watchConfig({
    fetch: async () => {
      const next = answers[Math.min(fetches++, answers.length - 1)]!;
      if (next instanceof Error) throw next;
      return next;
    },
    current: () => good,
    stale: () => false,
    refuse: (next) => (next.range.start === 40000 ? `the server's range 40000-59999 is bad` : undefined),
    apply: async (next) => void applied.push(next),
    intervalMs: 3_600_000, // only the checks the test makes
    log: createLogger({ level: "debug", write: (line) => lines.push(line) }),
  });
  return { watch, lines, applied, fetches: () => fetches };
}

describe("watchConfig", () => {
  test("a refused range is logged once, not applied, and said again only after the server went back to a good one", async () => {
    const { watch, lines, applied } = watcher([bad, bad, bad, good, bad]);
    for (let i = 0; i < 5; i++) await watch.check("test");
    await watch.stop();
    expect(applied).toEqual([]);
    const refusals = lines.filter((l) => l.includes("refused, keeping 29170-29233"));
    expect(refusals).toHaveLength(2);
    expect(refusals[0]).toContain("ERROR the server's range 40000-59999 is bad");
  });

  test("after a failed check the next waits (the pause doubles); an oversize answer is a warning naming it", async () => {
    const tooLarge = new ResponseTooLargeError(
      "GET http://x/v1/config answered more than 1048576 bytes (the bound); stopped reading it",
    );
    const { watch, lines, fetches } = watcher([tooLarge, good]);
    await watch.check("first");
    await watch.check("within the pause");
    await watch.stop();
    expect(fetches()).toBe(1);
    expect(lines[0]).toContain(
      "WARN could not check the server's configuration: GET http://x/v1/config answered more than 1048576 bytes",
    );
    expect(lines[0]).toContain("next check in 3600 s");
  });
});
