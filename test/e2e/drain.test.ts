// SIGTERM does not lose work: a service stopped while a burst it saw is still open reports it, and the
// session links, before the process exits.
import { describe, expect, test } from "bun:test";
import { transports } from "../../plugins/transport/index.ts";
import { knockTuples } from "../../src/client/knock.ts";
import { backendApi, eventually, serverProcess, serviceProcess } from "../helpers.ts";

describe("a service stopped with SIGTERM", () => {
  test("reports the burst it has seen and links it before it exits", async () => {
    const server = await serverProcess();
    const skipped = server.range.start + 7;
    // One port cannot be bound, and the idle gap is long: a code holding that port waits 5 s after its
    // last knock before it is reported. The stop comes in that wait.
    const service = await serviceProcess(server.url, ["--skip", String(skipped), "--idle", "5s"]);
    const api = backendApi(server.url);
    let offer = await api.createSession();
    for (let i = 0; i < 200 && !offer.tuples.flat().includes(skipped); i++) offer = await api.createSession();
    expect(offer.tuples.flat()).toContain(skipped);
    const knocked = offer.tuples.map((tuple) => tuple.filter((p) => p !== skipped));
    await knockTuples(transports.tcp, knocked, { settleMs: 0, origin: new URL(server.url).origin });
    await Bun.sleep(300); // the knocks are attributed and grouped; the burst waits for its idle gap
    expect((await api.status(offer.id)).state).toBe("pending");
    service.child.kill("SIGTERM");
    expect(await service.child.exited).toBe(0);
    await eventually(
      () => service.log.lines.some((l) => l.includes("report -> linked")),
      "the report of the open burst",
    );
    expect((await api.status(offer.id)).state).toBe("linked");
  });
});
