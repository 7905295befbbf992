// Two API keys issued for one origin: a session made by one key belongs to that key alone, on memory and on
// Redis. Key B gets 404 for key A's session (as for a session that does not exist: ids cannot be probed).
import { describe, expect, test } from "bun:test";
import { transports } from "../../plugins/transport/index.ts";
import { knockTuples } from "../../src/client/knock.ts";
import { apiClient } from "../../src/protocol/api-client.ts";
import { testServer, testService } from "../helpers.ts";
import { testRedis } from "../redis.ts";
import { ApiError } from "../../src/lib/errors.ts";

/** The status of a failed call, or "answered" when it succeeded. */
const outcome = (call: Promise<unknown>) =>
  call.then(
    () => "answered" as const,
    (e) => (e instanceof ApiError ? e.status : String(e)),
  );

for (const store of ["memory", "redis"] as const) {
  describe(`API keys of one origin on ${store}`, () => {
    test("key B can neither read (status, long poll, identity, results) nor instruct a session key A made; a page's session is the origin's", async () => {
      const server = await testServer(store === "redis" ? { store: (await testRedis()).url } : {});
      await testService(server.url);
      const origin = new URL(server.url).origin;
      const a = apiClient(server.url, { apiKey: (await server.registry.issueApiKey("backend A", origin)).key });
      const b = apiClient(server.url, { apiKey: (await server.registry.issueApiKey("backend B", origin)).key });

      // Key A's user links, and an instruction of A's is carried out.
      const offer = await a.createSession();
      await a.queueInstruction(offer.id, { name: "log", args: { message: "from A" } });
      await knockTuples(transports.tcp, offer.tuples, { settleMs: 2, origin });
      let mine = await a.status(offer.id, { seconds: 10, since: 0 });
      while (mine.instructions.some((i) => i.state === "queued" || i.state === "delivered"))
        mine = await a.status(offer.id, { seconds: 10, since: mine.version });
      expect(mine.state).toBe("linked");
      expect(mine.process).toBeDefined();
      expect(mine.instructions[0]).toMatchObject({ name: "log", state: "done" });

      // Key B, the id in hand (a leak, a log line): everything reads as missing.
      expect(await outcome(b.status(offer.id))).toBe(404);
      expect(await outcome(b.status(offer.id, { seconds: 1, since: 0 }))).toBe(404);
      expect(await outcome(b.queueInstruction(offer.id, { name: "log", args: { message: "from B" } }))).toBe(404);
      const raw = await fetch(`${server.url}/v1/sessions/${offer.id}`, {
        headers: { authorization: `Bearer ${(await server.registry.issueApiKey("backend C", origin)).key}` },
      });
      expect(raw.status).toBe(404);
      expect(await raw.text()).not.toContain(mine.process!.user);
      // A's session is as A left it: B queued nothing.
      expect((await a.status(offer.id)).instructions.map((i) => i.name)).toEqual(["log"]);

      // A session a page of the origin made (no key) belongs to the origin: every key issued for it sees it in full.
      const page = await fetch(`${server.url}/v1/sessions`, { method: "POST", headers: { origin } });
      expect(page.status).toBe(201);
      const { id } = (await page.json()) as { id: string };
      expect(await outcome(a.status(id))).toBe("answered");
      expect(await outcome(b.status(id))).toBe("answered");
      // A key of another origin sees none of them.
      const other = apiClient(server.url, {
        apiKey: (await server.registry.issueApiKey("elsewhere", "https://other.example")).key,
      });
      expect(await outcome(other.status(id))).toBe(404);
      expect(await outcome(other.status(offer.id))).toBe(404);
    });
  });
}
