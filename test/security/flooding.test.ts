// Flooding: bursts with a foreign port or too many ports link nothing; noisy processes do not stop honest ones.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { ClientResult } from "../../src/client/index.ts";
import {
  backendApi,
  eventually,
  BUN,
  enrollWith,
  onCleanup,
  ROOT,
  runPkipc,
  testServer,
  testService,
} from "../helpers.ts";
import { FAKE_PROCESS, signedPost } from "./tools.ts";

/** This test is about matching, not rate: the limits are off so every report reaches the matcher. */
const OFF = { perSecond: 0, burst: 0 };
const report = (observed: number[], failed: number[] = []) => ({
  process: FAKE_PROCESS,
  claim: { strategy: "server-match", observed, failed },
});

describe("reports that are not exactly a code", () => {
  test("a burst with one port outside every live code links nothing; nor does one with more ports than a code", async () => {
    const server = await testServer({
      security: { limits: { reportsPerService: OFF, reportsPerAddress: OFF, requestsPerService: OFF } },
    });
    const credentials = await enrollWith(server.url);
    const api = backendApi(server.url);
    const offers = await Promise.all(Array.from({ length: 20 }, () => api.createSession()));
    const live = new Set(offers.flatMap((o) => o.tuples.flat()));
    const { start, end } = server.config.range;
    let attempts = 0;
    for (const offer of offers) {
      const code = offer.tuples.flat();
      const code2 = new Set(code);
      // One port swapped for a port of the range that is in no live code at all (or, if every port is used, any other).
      const foreign =
        [...Array(end - start + 1).keys()].map((i) => start + i).find((p) => !live.has(p)) ??
        [...Array(end - start + 1).keys()].map((i) => start + i).find((p) => !code2.has(p))!;
      for (let i = 0; i < code.length; i++) {
        const swapped = code.map((p, j) => (j === i ? foreign : p));
        const answer = JSON.parse(
          (await signedPost("127.0.0.1", server.url, "/v1/reports", report(swapped), credentials)).body,
        );
        expect(answer.linked).toBe(false);
        attempts++;
      }
      // The whole code plus one more port, and the whole range: more knocks than a code has.
      for (const observed of [[...code, foreign], Array.from({ length: end - start + 1 }, (_, i) => start + i)]) {
        const answer = JSON.parse(
          (await signedPost("127.0.0.1", server.url, "/v1/reports", report(observed), credentials)).body,
        );
        expect(answer).toMatchObject({ linked: false, code: "TOO_MANY_PORTS" });
        attempts++;
      }
    }
    expect(attempts).toBe(20 * 14);
    for (const offer of offers) expect((await api.status(offer.id)).state).toBe("pending");
  });
});

/**
 * every: knocks every port of the range in a loop until killed; random: `count` random ports, at once. Each
 * knock states `origin`, the sessions' own: the worst noise is the one that carries the right origin.
 */
function knocker(mode: "every" | "random", range: { start: number; end: number }, count: number, origin: string) {
  const child = Bun.spawn(
    [
      BUN,
      join(ROOT, "test", "fixtures", "knocker.ts"),
      mode === "every" ? "loop" : "random",
      `${range.start}`,
      `${range.end}`,
      `${count}`,
      new URL(origin).origin,
    ],
    {
      stdout: "ignore",
      stderr: "ignore",
    },
  );
  onCleanup(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  return child;
}

describe("noisy processes during honest knocks", () => {
  test("a process knocking every port and one knocking random ports at high rate: no false link, honest clients link", async () => {
    const server = await testServer();
    const service = await testService(server.url);
    const api = backendApi(server.url);
    const decoys = await Promise.all(Array.from({ length: 10 }, () => api.createSession()));
    const noise = [
      knocker("every", server.config.range, 0, server.url),
      knocker("random", server.config.range, 5000, server.url),
    ];
    const runs = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const run = await runPkipc(["client", "--server", server.url, "--json", "--timeout", "20s"]);
        return { pid: run.pid, result: JSON.parse(run.stdout) as ClientResult };
      }),
    );
    for (const run of runs) {
      expect(run.result.linked).toBe(true);
      expect(run.result.process?.pid).toBe(run.pid);
    }
    for (const decoy of decoys) expect((await api.status(decoy.id)).state).toBe("pending");
    const noisy = new Set(noise.map((n) => n.pid));
    const linkedNoise = service.reports.filter((r) => r.answer?.linked && noisy.has(r.burst.process.pid));
    expect(linkedNoise).toEqual([]);
    // The noise was really seen and reported, not filtered away before the server (the honest clients
    // may all link before the noisy processes have made six bursts: wait for them, bounded).
    await eventually(
      () => service.reports.filter((r) => noisy.has(r.burst.process.pid)).length > 5,
      "six reports of the noisy processes",
      15_000,
    );
    expect(service.reports.filter((r) => r.answer?.linked && noisy.has(r.burst.process.pid))).toEqual([]);
  });
});
