// Which webhook events a session's change makes: session.declined when the local user said no.
import { describe, expect, test } from "bun:test";
import type { SessionRecord } from "../../../src/server/state/types.ts";
import { eventsOf } from "../../../src/server/webhooks/events.ts";

const base: SessionRecord = {
  id: "s1",
  tuples: [],
  createdAt: 0,
  expiresAt: Date.now() + 30_000,
  version: 1,
  state: "pending",
  address: "127.0.0.1",
  origin: "https://saas.example",
  apiKeyId: "ak_1",
  instructions: [],
};
const statusOf = (r: SessionRecord) => ({
  id: r.id,
  state: r.state,
  version: r.version,
  expiresAt: new Date(r.expiresAt).toISOString(),
  ...(r.state === "declined" ? { reason: "DECLINED" as const } : {}),
  instructions: [],
});

describe("webhook events", () => {
  test("a session the local user declined makes session.declined once, with reason DECLINED", () => {
    const declined = { ...base, state: "declined" as const, version: 2 };
    const events = eventsOf(base, declined, statusOf);
    expect(events).toHaveLength(1);
    const body = JSON.parse(events[0]!.body);
    expect(body).toMatchObject({ type: "session.declined", data: { id: "s1", state: "declined", reason: "DECLINED" } });
    expect(events[0]!.id).toBe("msg_s1_declined");
    expect(eventsOf(declined, { ...declined, version: 3 }, statusOf)).toEqual([]);
  });
});
