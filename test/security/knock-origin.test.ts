// Issue 19 item 6 at the server: a report links a session of origin S only when its knocks proved S (WebKit's origin-less knocks excepted), in JSON and XML, on the memory and the Redis store.
import { describe, expect, test } from "bun:test";
import { silentLogger } from "../../src/lib/log.ts";
import { apiClient } from "../../src/protocol/api-client.ts";
import { encode, type Format } from "../../src/protocol/codec.ts";
import { type Report, Report as ReportSchema } from "../../src/protocol/schemas.ts";
import { signRequest } from "../../src/protocol/signing.ts";
import { memoryStore } from "../../src/server/state/memory/sessions.ts";
import { redisStore } from "../../src/server/state/redis/sessions.ts";
import type { SessionStore } from "../../src/server/state/types.ts";
import { transports } from "../../plugins/transport/index.ts";
import { runClient } from "../../src/client/index.ts";
import { enrollWith, eventually, testServer, testService } from "../helpers.ts";
import { testConnection } from "../server/contracts/backends.ts";
import { requestFrom } from "./tools.ts";

const SAAS = "https://saas.example";
const ATTACKER = "https://game.example";

const chromium = { pid: 4242, ppid: 1, uid: 1000, user: "victim", exe: "/usr/lib/chromium/chromium", name: "chromium" };
const firefox = {
  pid: 4343,
  ppid: 1,
  uid: 1000,
  user: "victim",
  exe: "/usr/lib/firefox-esr/firefox-esr",
  name: "firefox-esr",
};
const webkit = {
  pid: 4444,
  ppid: 1,
  uid: 1000,
  user: "victim",
  exe: "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/WebKitNetworkProcess",
  name: "WebKitNetworkPr",
};

const stores: Array<{ name: string; open(): Promise<SessionStore> }> = [
  { name: "memory", open: async () => memoryStore() },
  { name: "redis", open: async () => redisStore(await testConnection(), silentLogger) },
];

/** What the victim's service would report for knocks of `ports` by `process` carrying `origin`, sent signed in `format`. */
async function report(url: string, credentials: Awaited<ReturnType<typeof enrollWith>>, body: Report, format: Format) {
  const text = encode(ReportSchema, body, format);
  const headers = {
    "content-type": format === "xml" ? "application/xml" : "application/json",
    ...signRequest(credentials, { method: "POST", path: "/v1/reports", body: text }),
  };
  const answer = await requestFrom("127.0.0.1", url, "POST", "/v1/reports", { headers, body: text });
  expect(answer.status).toBe(200);
  return JSON.parse(answer.body) as { linked: boolean; code?: string; reason?: string };
}

for (const { name, open } of stores) {
  describe(`the origin a report's knocks proved (${name} store)`, () => {
    test("knocks of another origin or of none link no session of S from Chromium or Firefox, even as a proposal; WebKit's origin-less knocks and knocks carrying S do", async () => {
      const server = await testServer({}, await open());
      const credentials = await enrollWith(server.url);
      // The SaaS's backend, whose ordinary user the attacker is: it makes his sessions, stating his address (the victim's).
      const saas = apiClient(server.url, { apiKey: (await server.registry.issueApiKey("saas", SAAS)).key });
      const cases: Array<[string, Omit<Report, "claim">, Format, string | true]> = [
        [
          "Chromium knocks carrying the attacker's origin",
          { process: chromium, origin: ATTACKER },
          "json",
          "ORIGIN_NOT_PROVEN",
        ],
        ["Chromium knocks carrying none (no-cors GET, TLS)", { process: chromium }, "xml", "ORIGIN_NOT_PROVEN"],
        ["Firefox knocks carrying none", { process: firefox }, "json", "ORIGIN_NOT_PROVEN"],
        [
          "a proposal (--confirm ask) for the attacker's knocks",
          { process: firefox, origin: ATTACKER, propose: true },
          "xml",
          "ORIGIN_NOT_PROVEN",
        ],
        [
          "WebKit knocks carrying the attacker's origin",
          { process: webkit, origin: ATTACKER },
          "json",
          "ORIGIN_NOT_PROVEN",
        ],
        ["WebKit's TLS knocks, which cannot carry one", { process: webkit }, "xml", true],
        ["Chromium knocks carrying S, in XML", { process: chromium, origin: SAAS }, "xml", true],
        ["Firefox knocks carrying S", { process: firefox, origin: SAAS }, "json", true],
      ];
      for (const [what, fields, format, expected] of cases) {
        const offer = await saas.createSession();
        const answer = await report(
          server.url,
          credentials,
          { ...fields, claim: { strategy: "server-match", observed: offer.tuples.flat(), failed: [] } },
          format,
        );
        const state = (await saas.status(offer.id)).state;
        if (expected === true) {
          expect({ what, linked: answer.linked, state }).toEqual({ what, linked: true, state: "linked" });
        } else {
          expect({ what, code: answer.code, state }).toEqual({ what, code: expected, state: "pending" });
          expect(answer.reason).toContain(`the session belongs to ${SAAS}`);
        }
      }
    });
  });
}

describe("the CLI client, a stand-in for a page", () => {
  test("states the session's origin in its knocks by default and links, with every transport; stating another site's, it links nothing", async () => {
    const server = await testServer();
    const service = await testService(server.url);
    for (const transport of ["tcp", "http", "ws"] as const) {
      const linked = await runClient({
        server: server.url,
        transport: transports[transport],
        apiKey: server.apiKey,
        timeoutMs: 10_000,
      });
      expect({ transport, linked: linked.linked }).toEqual({ transport, linked: true });
      await Bun.sleep(1100); // past the service's 1 s window for a burst's retries
    }
    const seen = service.reports.length;
    const relayed = await runClient({
      server: server.url,
      transport: transports.tcp,
      apiKey: server.apiKey,
      origin: ATTACKER,
      timeoutMs: 3_000,
    });
    expect(relayed).toMatchObject({ linked: false, state: "pending" });
    await eventually(() => service.reports.length > seen, "the service's report of the relayed knocks");
    expect(service.reports.at(-1)!.answer).toMatchObject({ linked: false, code: "ORIGIN_NOT_PROVEN" });
  });
});
