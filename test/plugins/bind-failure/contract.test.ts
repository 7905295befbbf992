// One contract, run against every bind-failure strategy: what links, what does not, and why.
import { describe, expect, test } from "bun:test";
import { bindFailureStrategies } from "../../../plugins/bind-failure/index.ts";
import { TooManyCompletionsError } from "../../../src/lib/errors.ts";
import { silentLogger } from "../../../src/lib/log.ts";
import type { ClaimLimits } from "../../../src/protocol/bind-failure.ts";
import type { ProcessInfo } from "../../../src/protocol/schemas.ts";
import { createSessions } from "../../../src/server/sessions.ts";
import { memoryStore } from "../../../src/server/state/memory/sessions.ts";
import type { SessionRecord } from "../../../src/server/state/types.ts";
import { serverConfig } from "../../helpers.ts";

const range = { start: 29_170, end: 29_233 };
const limits: ClaimLimits = { knocks: 12, maxMissing: 3, maxFailed: 16, maxCompletions: 2048 };
const proc: ProcessInfo = { pid: 4321, ppid: 1, uid: 1000, user: "ana", exe: "/usr/bin/browser", name: "browser" };
const CODE_A = [
  [29_170, 29_171, 29_172, 29_173],
  [29_180, 29_181, 29_182, 29_183],
  [29_190, 29_191, 29_192, 29_193],
];

/** The SaaS backend that made the sessions: only it sees who linked them. */
const BACKEND = { id: "ak_contract", origin: "https://saas.example" };

function record(id: string, tuples: number[][]): SessionRecord {
  const now = Date.now();
  return {
    id,
    tuples,
    createdAt: now,
    expiresAt: now + 30_000,
    state: "pending",
    version: 0,
    address: "127.0.0.1",
    apiKeyId: BACKEND.id,
    instructions: [],
  };
}

for (const [name, strategy] of Object.entries(bindFailureStrategies)) {
  describe(`bind-failure contract: ${name}`, () => {
    async function setup(...codes: number[][][]) {
      const store = memoryStore();
      const sessions = createSessions(serverConfig({ range, bindFailure: strategy }), store, silentLogger);
      for (const [i, code] of codes.entries())
        expect(await store.insert(record(`session-${i}-aaaaaaaaaaaaaaa`, code))).toBe(true);
      const report = (observed: number[], failed: number[] = []) =>
        sessions.report({ process: proc, claim: strategy.claim(observed, failed, limits) }, "127.0.0.1");
      return { store, sessions, report };
    }

    test("every knock seen: links the one session, whatever the order", async () => {
      const { report, sessions } = await setup(CODE_A);
      const answer = await report(CODE_A.flat().reverse());
      expect(answer.linked).toBe(true);
      const status = await sessions.status("session-0-aaaaaaaaaaaaaaa", { viewer: BACKEND });
      expect(status.state).toBe("linked");
      expect(status.process?.pid).toBe(4321);
      // A page reading the same session learns that it linked, not who.
      expect((await sessions.status("session-0-aaaaaaaaaaaaaaa")).process).toBeUndefined();
    });

    test("knocks on ports the service could not bind are filled in from its failed ports", async () => {
      const { report } = await setup(CODE_A);
      const failed = [29_171, 29_182, 29_200]; // two in the code, one not
      const seen = CODE_A.flat().filter((p) => !failed.includes(p));
      const answer = await report(seen, failed);
      expect(answer).toMatchObject({ linked: true });
    });

    test("a port outside the code matches nothing", async () => {
      const { report } = await setup(CODE_A);
      const answer = await report([...CODE_A.flat().slice(0, 11), 29_233]);
      expect(answer).toMatchObject({ linked: false, code: "NO_MATCH" });
    });

    test("more ports than a code has link nothing", async () => {
      const { report } = await setup(CODE_A);
      const all = Array.from({ length: 64 }, (_, i) => range.start + i);
      const answer = await report(all);
      expect(answer.linked).toBe(false);
      expect(answer.code).toBe("TOO_MANY_PORTS");
    });

    test("too few ports, even with failed ports to fill from, link nothing", async () => {
      const { report } = await setup(CODE_A);
      const answer = await report(CODE_A.flat().slice(0, 6), CODE_A.flat().slice(6));
      expect(answer.linked).toBe(false);
      expect(answer.code).toBe("TOO_MANY_MISSING");
    });

    test("two live codes that fit equally link neither, with a reason", async () => {
      // The codes differ only in ports the service failed to bind: it cannot tell them apart.
      const codeB = CODE_A.map((t) => [...t]);
      codeB[2]![3] = 29_199;
      const { report, sessions } = await setup(CODE_A, codeB);
      const failed = [29_193, 29_199];
      const seen = CODE_A.flat().filter((p) => !failed.includes(p));
      const answer = await report(seen, failed);
      expect(answer).toMatchObject({ linked: false, code: "AMBIGUOUS" });
      expect(answer.reason).toContain("2 live codes");
      expect((await sessions.status("session-0-aaaaaaaaaaaaaaa")).state).toBe("pending");
      expect((await sessions.status("session-1-aaaaaaaaaaaaaaa")).state).toBe("pending");
    });

    test("a code links once: the same report again links nothing", async () => {
      const { report } = await setup(CODE_A);
      expect((await report(CODE_A.flat())).linked).toBe(true);
      expect(await report(CODE_A.flat())).toMatchObject({ linked: false, code: "NO_MATCH" });
    });

    test("a report made with the other strategy is refused", async () => {
      const other = Object.values(bindFailureStrategies).find((s) => s.name !== name)!;
      const { sessions } = await setup(CODE_A);
      const answer = await sessions.report(
        { process: proc, claim: other.claim(CODE_A.flat(), [], limits) },
        "127.0.0.1",
      );
      expect(answer).toMatchObject({ linked: false, code: "WRONG_STRATEGY" });
    });

    test("codes: exactly the codes of the range that fit the claim, each sorted and once, found by brute force", () => {
      const seen = [...CODE_A.flat().slice(0, 9), CODE_A[0]![0]!]; // 9 ports seen, one twice: 3 missing
      const failed = [29_191, 29_200, 29_192, 29_201, 29_193, 29_202, 29_200]; // holds the 3 missing, one twice
      const claim = strategy.claim(seen, failed, limits);
      const codes = strategy.codes(claim, limits);
      // Every 12-port set of a small universe that holds all seen ports, checked with fits: the codes that fit.
      const universe = [...new Set([...seen, ...failed, 29_210, 29_211])];
      const fitting: string[] = [];
      const pick = (from: number, chosen: number[]) => {
        if (chosen.length === limits.knocks) {
          if (strategy.fits(claim, new Set(chosen))) fitting.push([...chosen].sort((a, b) => a - b).join(","));
          return;
        }
        for (let i = from; i < universe.length; i++) pick(i + 1, [...chosen, universe[i]!]);
      };
      pick(0, []);
      expect(fitting.length).toBe(20); // C(6, 3): the missing 3 from the 6 distinct failed ports
      expect(codes.map((c) => c.join(",")).sort()).toEqual(fitting.sort());
      for (const code of codes) expect(code).toEqual([...code].sort((a, b) => a - b));
    });

    test("a report whose completions pass --max-completions is refused with the count, not searched", async () => {
      const { sessions, store } = await setup(CODE_A);
      const tight = createSessions(
        serverConfig({ range, bindFailure: strategy, maxCompletions: 5 }),
        store,
        silentLogger,
      );
      const seen = CODE_A.flat().slice(0, 9);
      const failed = [...CODE_A.flat().slice(9), 29_200, 29_201, 29_202]; // C(6, 3) = 20 codes
      const claim = strategy.claim(seen, failed, limits);
      expect(await tight.report({ process: proc, claim }, "127.0.0.1")).toMatchObject({
        linked: false,
        code: "TOO_MANY_COMPLETIONS",
        reason: expect.stringMatching(/20/),
      });
      expect(await sessions.report({ process: proc, claim }, "127.0.0.1")).toMatchObject({ linked: true });
    });

    test("claimsFailedWhenComplete says whether a claim with every knock seen names the failed ports", () => {
      const claim = strategy.claim(CODE_A.flat(), [29_200, 29_201], limits);
      expect(strategy.failed(claim).length > 0).toBe(strategy.claimsFailedWhenComplete);
    });

    test("a port outside the range is refused", async () => {
      const { report } = await setup(CODE_A);
      expect(await report([...CODE_A.flat().slice(0, 11), 80])).toMatchObject({ linked: false, code: "OUT_OF_RANGE" });
    });
  });
}

test("enumerate refuses, with a clear error, to list more completions than its bound", () => {
  const failed = Array.from({ length: 40 }, (_, i) => 29_190 + i);
  const seen = [29_170, 29_171, 29_172, 29_173, 29_174, 29_175, 29_176, 29_177, 29_178]; // 3 missing: C(40, 3) = 9,880
  expect(() => bindFailureStrategies.enumerate.claim(seen, failed, limits)).toThrow(TooManyCompletionsError);
  expect(() => bindFailureStrategies.enumerate.claim(seen, failed, limits)).toThrow(
    /completions exceed the bound of 2048/,
  );
});

test("enumerate lists exactly C(failed, missing) completions", () => {
  const claim = bindFailureStrategies.enumerate.claim(
    CODE_A.flat().slice(0, 10),
    [29_200, 29_201, 29_202, 29_203],
    limits,
  );
  expect(claim.strategy).toBe("enumerate");
  if (claim.strategy === "enumerate") expect(claim.completions.length).toBe(6);
});

test("enumerate admits a claim up to --max-completions and refuses one past it, before anything reads it", () => {
  const completion = CODE_A.flat();
  const at = {
    strategy: "enumerate" as const,
    completions: Array.from({ length: limits.maxCompletions }, () => completion),
  };
  const past = { strategy: "enumerate" as const, completions: [...at.completions, completion] };
  expect(() => bindFailureStrategies.enumerate.admit(at, limits)).not.toThrow();
  expect(() => bindFailureStrategies.enumerate.admit(past, limits)).toThrow(
    `${limits.maxCompletions + 1} completions sent; at most ${limits.maxCompletions} are accepted`,
  );
});
