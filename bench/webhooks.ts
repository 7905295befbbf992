// Webhooks: what an event costs the request that made it (queueing), and how fast one instance delivers to a local receiver.
import { silentLogger } from "../src/lib/log.ts";
import type { SessionRecord } from "../src/server/state/types.ts";
import { createWebhooks, DEFAULT_WEBHOOK_SETTINGS } from "../src/server/webhooks/index.ts";
import { webhookSecret } from "../src/server/webhooks/sign.ts";
import { percentile } from "./stats.ts";

const EVENTS = 20_000;
let received = 0;
const receiver = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(request) {
    await request.arrayBuffer();
    received++;
    return new Response(null, { status: 204 });
  },
});
const target = { url: `http://127.0.0.1:${receiver.port}/hook`, secret: webhookSecret() };
const webhooks = createWebhooks(
  async () => target,
  (r) => ({
    id: r.id,
    state: "linked",
    version: r.version,
    expiresAt: new Date(r.expiresAt).toISOString(),
    instructions: [],
  }),
  silentLogger,
  { ...DEFAULT_WEBHOOK_SETTINGS, maxQueued: EVENTS },
);

/** A session that became linked, with one instruction done: two events per observe(). */
const pair = (n: number): [SessionRecord, SessionRecord] => {
  const base = {
    id: `s${n}`,
    tuples: [],
    createdAt: 0,
    expiresAt: Date.now() + 30_000,
    version: 1,
    address: "127.0.0.1",
    origin: "https://saas.example",
    apiKeyId: "ak_bench",
  };
  const instruction = { id: "i1", name: "log", args: {} };
  return [
    { ...base, state: "pending", instructions: [{ ...instruction, state: "delivered" }] },
    {
      ...base,
      state: "linked",
      version: 2,
      process: { pid: 1, name: "firefox", user: "ana", exe: "/usr/bin/firefox" } as any,
      instructions: [{ ...instruction, state: "done", result: "ok" }],
    },
  ];
};

const pairs = Array.from({ length: EVENTS / 2 }, (_, n) => pair(n));
const costs: number[] = [];
for (const [before, after] of pairs) {
  const t = performance.now();
  webhooks.observe(before, after);
  costs.push((performance.now() - t) * 1000);
}
const queuedAt = performance.now();
while (received < EVENTS) {
  if (performance.now() - queuedAt > 120_000) throw new Error(`only ${received} of ${EVENTS} delivered in 120 s`);
  await Bun.sleep(10);
}
const deliveredMs = performance.now() - queuedAt;
console.log(
  `observe() on the request path, per change (2 events made and queued; signing and sending come later): median ${percentile(costs, 50).toFixed(1)} µs, p99 ${percentile(costs, 99).toFixed(1)} µs, max ${Math.max(...costs).toFixed(0)} µs (the first ones start the attempts; n=${costs.length})`,
);
console.log(
  `delivered ${EVENTS} signed events to a local receiver in ${(deliveredMs / 1000).toFixed(2)} s: ${Math.round(EVENTS / (deliveredMs / 1000))} events/s (16 in flight)`,
);
console.log(`memory: rss ${Math.round(process.memoryUsage().rss / 1e6)} MB after the run`);
webhooks.sender.stop();
receiver.stop(true);
