// Only browsers link by default, and the local user can be asked first.
import { describe, expect, test } from "bun:test";
import { transports } from "../../plugins/transport/index.ts";
import { knockTuples } from "../../src/client/knock.ts";
import { DEFAULT_BROWSERS } from "../../src/service/policy.ts";
import { backendApi, eventually, testServer, testService } from "../helpers.ts";

describe("who may link", () => {
  test("by default a knock from a program that is not a browser is not reported", async () => {
    const server = await testServer();
    const service = await testService(server.url, { allowProcesses: DEFAULT_BROWSERS });
    const offer = await backendApi(server.url).createSession();
    await knockTuples(transports.tcp, offer.tuples, { settleMs: 2, origin: new URL(server.url).origin }); // this test runner is "bun"
    await eventually(() => service.reports.length > 0, "the service's decision");
    expect(service.reports[0]!.error).toMatch(/may not link/);
    expect(service.reports[0]!.answer).toBeUndefined();
    expect((await backendApi(server.url).status(offer.id)).state).toBe("pending");
  });

  test("a link the local user declines never links and ends DECLINED at once; one accepted links", async () => {
    const server = await testServer();
    const asked: string[] = [];
    let answer = false;
    const service = await testService(server.url, {
      confirm: async (process) => (asked.push(process.name), answer),
    });
    const api = backendApi(server.url);
    const declined = await api.createSession();
    await knockTuples(transports.tcp, declined.tuples, { settleMs: 2, origin: new URL(server.url).origin });
    await eventually(() => service.reports.length === 1, "the declined burst");
    expect(service.reports[0]!.error).toBe("declined by the local user");
    // The decline reaches the backend as its own reason, not as a session left pending until it expires.
    const status = await api.status(declined.id);
    expect(status.state).toBe("declined");
    expect(status.reason).toBe("DECLINED");
    answer = true;
    // The same process knocks again: past the service's 1 s window in which a knock on a port of its
    // last burst counts as a retry (with 4 or more ports shared, a code knocked sooner cannot link).
    await Bun.sleep(1100);
    const accepted = await api.createSession();
    await knockTuples(transports.tcp, accepted.tuples, { settleMs: 2, origin: new URL(server.url).origin });
    await eventually(() => service.reports.length === 2, "the accepted burst");
    expect((await api.status(accepted.id)).state).toBe("linked");
    expect(asked).toEqual(["bun", "bun"]);
  });
});
