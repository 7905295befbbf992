// How a session's end reaches its instructions: a decline ends them at once, and an answer after the link's end is not taken.
import { expect, test } from "bun:test";
import { SessionEndedError } from "../../src/lib/errors.ts";
import { silentLogger } from "../../src/lib/log.ts";
import type { Report } from "../../src/protocol/schemas.ts";
import { createSessions } from "../../src/server/sessions.ts";
import { memoryStore } from "../../src/server/state/memory/sessions.ts";
import type { SessionStore } from "../../src/server/state/types.ts";
import { eventually, onCleanup, serverConfig } from "../helpers.ts";

const viewer = { id: "ak_test", origin: "https://saas.example" };
const browser = { pid: 4242, name: "firefox", user: "alice", exe: "/usr/lib/firefox-esr/firefox-esr" };

/** A session of the viewer's, and the report a service would send for its whole code. */
async function setUp(overrides: Parameters<typeof serverConfig>[0] = {}) {
  const store = memoryStore();
  onCleanup(() => store.close());
  const config = serverConfig(overrides);
  const sessions = createSessions(config, store, silentLogger, { bindOrigin: true });
  const offer = await sessions.create({ address: "127.0.0.1", origin: viewer.origin, apiKeyId: viewer.id });
  const ports = offer.tuples.flat();
  const claim = config.bindFailure.claim(ports, [], {
    knocks: ports.length,
    maxMissing: config.maxMissing,
    maxFailed: config.maxFailed,
    maxCompletions: config.maxCompletions,
  });
  const report = (extra: Partial<Report> = {}) =>
    ({ process: browser, claim, origin: viewer.origin, ...extra }) as Report;
  return { sessions, offer, report };
}

test("a declined session refuses its queued instructions with DECLINED and takes no more", async () => {
  const { sessions, offer, report } = await setUp();
  const first = await sessions.queueInstruction(offer.id, { name: "key", args: { name: "api", secret: "s" } }, viewer);
  const answer = await sessions.report(report({ decline: true }), "127.0.0.1");
  expect(answer.code).toBe("DECLINED");
  const status = await sessions.status(offer.id, { viewer });
  expect(status.state).toBe("declined");
  expect(status.instructions.find((i) => i.id === first.id)).toMatchObject({
    state: "refused",
    result: expect.stringMatching(/^DECLINED: /),
  });
  await expect(
    sessions.queueInstruction(offer.id, { name: "key", args: { name: "other" } }, viewer),
  ).rejects.toBeInstanceOf(SessionEndedError);
  // a decline that comes after the link declines nothing, and says so
  const later = await setUp();
  expect((await later.sessions.report(later.report(), "127.0.0.1")).linked).toBe(true);
  expect((await later.sessions.report(later.report({ decline: true }), "127.0.0.1")).code).not.toBe("DECLINED");
  expect((await later.sessions.status(later.offer.id, { viewer })).state).toBe("linked");
});

test("an answer that comes after the link ended does not turn an expired instruction into done", async () => {
  const { sessions, offer, report } = await setUp({ linkTtlMs: 400 });
  const queued = await sessions.queueInstruction(offer.id, { name: "log", args: { message: "hi" } }, viewer);
  const linked = await sessions.report(report(), "127.0.0.1");
  expect(linked.linked).toBe(true);
  await Bun.sleep(600);
  const before = await sessions.status(offer.id, { viewer });
  expect(before.instructions.find((i) => i.id === queued.id)?.state).toBe("expired");
  await expect(
    sessions.acknowledge(linked.linkId!, [{ id: queued.id, ok: true, result: "late" }]),
  ).rejects.toBeInstanceOf(SessionEndedError);
  const after = await sessions.status(offer.id, { viewer });
  expect(after.instructions.find((i) => i.id === queued.id)?.state).toBe("expired");
});

test("an expiry the store could not take at first is stored once it can: the instruction.expired event is not lost", async () => {
  const inner = memoryStore();
  onCleanup(() => inner.close());
  // the store fails one write (Redis away for a moment), the one that stores the expiry
  let failNext = false;
  const store = new Proxy(inner, {
    get(target, name) {
      if (name === "replace")
        return async (...args: Parameters<SessionStore["replace"]>) => {
          if (failNext) {
            failNext = false;
            throw new Error("the store is away for a moment");
          }
          return target.replace(...args);
        };
      const value = Reflect.get(target, name);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const stored: string[] = [];
  const sessions = createSessions(serverConfig(), store, silentLogger, { bindOrigin: true }, (_before, after) =>
    stored.push(...after.instructions.map((i) => i.state)),
  );
  const offer = await sessions.create({ address: "127.0.0.1", origin: viewer.origin, apiKeyId: viewer.id });
  await sessions.queueInstruction(offer.id, { name: "log", args: {}, ttlMs: 200 }, viewer);
  failNext = true;
  await eventually(() => stored.includes("expired"), "the expiry stored after the store came back", 10_000);
  expect(failNext).toBe(false); // the first try did fail
});
