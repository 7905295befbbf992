// The webhook sender's bounds on real sockets: a full queue drops, attempts in flight are capped, retries end, redirects are not followed, stop ends everything.
import { describe, expect, test } from "bun:test";
import { createLogger } from "../../../src/lib/log.ts";
import { DEFAULT_WEBHOOK_SETTINGS, type WebhookSettings, webhookSender } from "../../../src/server/webhooks/deliver.ts";
import type { WebhookEvent } from "../../../src/server/webhooks/events.ts";
import { eventually, onCleanup } from "../../helpers.ts";

/** A receiver on 127.0.0.1 whose answer `reply` picks; counts requests and the most held at once. */
function receiver(reply: (request: Request) => Promise<Response> | Response) {
  const stats = { requests: 0, open: 0, mostOpen: 0 };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 60,
    async fetch(request) {
      stats.requests++;
      stats.open++;
      stats.mostOpen = Math.max(stats.mostOpen, stats.open);
      try {
        return await reply(request);
      } finally {
        stats.open--;
      }
    },
  });
  onCleanup(() => server.stop(true));
  return { url: `http://127.0.0.1:${server.port}/hook`, stats };
}

function logged() {
  const lines: string[] = [];
  return { lines, log: createLogger({ write: (line) => lines.push(line), level: "debug" }) };
}

const event = (n: number): WebhookEvent => ({
  id: `msg_${n}`,
  apiKeyId: "ak_test",
  body: JSON.stringify({ type: "test", n }),
});
const settings = (over: Partial<WebhookSettings>): WebhookSettings => ({ ...DEFAULT_WEBHOOK_SETTINGS, ...over });
const never = () => new Promise<Response>(() => {});

describe("webhook sender", () => {
  test("past maxQueued new events are dropped and said so; at most maxInFlight attempts are open at once", async () => {
    const hook = receiver(never);
    const { lines, log } = logged();
    const sender = webhookSender(
      async () => ({ url: hook.url, secret: "whsec_AAAA" }),
      log,
      settings({ maxQueued: 5, maxInFlight: 2, timeoutMs: 60_000 }),
    );
    onCleanup(() => sender.stop());
    for (let n = 0; n < 50; n++) sender.send(event(n));
    expect(sender.pending()).toBe(5);
    await eventually(() => hook.stats.requests === 2, "two attempts to reach the receiver");
    await Bun.sleep(300); // room for a third, which must not come
    expect(hook.stats.mostOpen).toBe(2);
    expect(lines.join("\n")).toContain("webhook queue full: events dropped");
    sender.stop();
    expect(sender.pending()).toBeLessThanOrEqual(2); // the two aborted attempts end on their own
    await eventually(() => sender.pending() === 0, "the aborted attempts to end");
    expect(lines.join("\n")).toMatch(/stopping with webhook events undelivered .*events=3/);
  });

  test("a failing target is tried once plus once per retry, then given up", async () => {
    const hook = receiver(() => new Response("no", { status: 500 }));
    const { lines, log } = logged();
    const sender = webhookSender(
      async () => ({ url: hook.url, secret: "whsec_AAAA" }),
      log,
      settings({ retryDelaysMs: [100, 100] }),
    );
    onCleanup(() => sender.stop());
    sender.send(event(1));
    await eventually(() => lines.some((l) => l.includes("webhook given up")), "the event to be given up", 10_000);
    expect(hook.stats.requests).toBe(3);
    expect(sender.pending()).toBe(0);
  });

  test("a redirect is a failed attempt and is never followed", async () => {
    const inside = receiver(() => new Response(null, { status: 204 }));
    const hook = receiver(() => new Response(null, { status: 307, headers: { location: inside.url } }));
    const { lines, log } = logged();
    const sender = webhookSender(
      async () => ({ url: hook.url, secret: "whsec_AAAA" }),
      log,
      settings({ retryDelaysMs: [] }),
    );
    onCleanup(() => sender.stop());
    sender.send(event(1));
    await eventually(
      () => lines.some((l) => l.includes("webhook given up")),
      "the redirected event to be given up",
      10_000,
    );
    expect(lines.join("\n")).toContain("answered 307");
    expect(inside.stats.requests).toBe(0);
  });

  test("a key with no webhook (or revoked) is nothing to deliver; a lookup that fails is retried", async () => {
    const hook = receiver(() => new Response(null, { status: 204 }));
    const { lines, log } = logged();
    let lookups = 0;
    const sender = webhookSender(
      async (id) => {
        lookups++;
        if (id === "ak_none") return undefined;
        if (lookups === 2) throw new Error("the shared store is unreachable");
        return { url: hook.url, secret: "whsec_AAAA" };
      },
      log,
      settings({ retryDelaysMs: [100] }),
    );
    onCleanup(() => sender.stop());
    sender.send({ ...event(1), apiKeyId: "ak_none" });
    await eventually(() => sender.pending() === 0, "the event without a webhook to be done");
    sender.send(event(2));
    await eventually(() => hook.stats.requests === 1, "the retried event to arrive", 10_000);
    expect(lines.join("\n")).toContain("the shared store is unreachable");
  });
});
