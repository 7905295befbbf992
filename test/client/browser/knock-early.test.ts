// link() with a session its backend made knocks at once: the server's configuration is read meanwhile, not first.
import { afterEach, expect, test } from "bun:test";
import { type LinkOptions, type LinkProgress, link } from "../../../src/client/browser/index.ts";
import { testServer } from "../../helpers.ts";

const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

test("with a session in hand, the first knock goes out before the configuration is answered; progress keeps its order", async () => {
  const server = await testServer();
  const made = await realFetch(`${server.url}/v1/sessions`, {
    method: "POST",
    headers: { authorization: `Bearer ${server.apiKey}` },
  });
  expect(made.status).toBe(201);
  const session = await made.json();

  const order: string[] = [];
  let knocked!: () => void;
  const firstKnock = new Promise<void>((resolve) => (knocked = resolve));
  // The page's GET /v1/config is held until a knock has gone out (at most 3 s): old code, which read the
  // configuration before knocking, waits out the 3 s and gives up (timeoutMs) without knocking first.
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input);
    if (url.endsWith("/v1/config")) {
      await Promise.race([firstKnock, Bun.sleep(3000)]);
      order.push("config");
    }
    return realFetch(input, init);
  }) as typeof fetch;
  // A transport that only notes the knock (nothing links, no service speaks: the outcome is NO_SERVICE).
  const transport: Extract<LinkOptions["transport"], object> = {
    name: "probe",
    async knock({ port }) {
      order.push("knock");
      knocked();
      return { port, landed: undefined, ms: 0 };
    },
  };
  const events: LinkProgress["type"][] = [];
  const error = await link({
    server: server.url,
    session,
    transport,
    timeoutMs: 2000,
    onProgress: (e) => events.push(e.type),
  }).catch((e) => e);

  expect((error as { code?: string }).code).toBe("NO_SERVICE");
  expect(order[0]).toBe("knock");
  expect(order).toContain("config");
  const ports = session.tuples.flat().length;
  // Listeners still hear of the permission and the session (which names the range, from the configuration) before any knock.
  expect(events.slice(0, 2)).toEqual(["permission", "session"]);
  expect(events.filter((t) => t === "knock")).toHaveLength(ports);
  expect(events.indexOf("waiting")).toBeGreaterThan(events.lastIndexOf("knocked"));
});
