// A running service follows its server: restarted with another range and code shape, the server is
// followed without restarting the service on the user's computer, and what changed is logged.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { transports } from "../../plugins/transport/index.ts";
import { runClient } from "../../src/client/index.ts";
import { createLogger, silentLogger } from "../../src/lib/log.ts";
import { findFreeRange } from "../../src/lib/ports.ts";
import { apiClient } from "../../src/protocol/api-client.ts";
import { startServer } from "../../src/server/index.ts";
import { startService } from "../../src/service/index.ts";
import { eventually, onCleanup, serverConfig, TEST_ALLOWED_PROCESSES, TEST_USER, tempFolder } from "../helpers.ts";

describe("a service follows its server's configuration", () => {
  test("the server restarts with another range and code shape: the service rebinds by itself, logs what changed, and links again", async () => {
    const file = join(tempFolder(), "services.json");
    const before = findFreeRange(64);
    let server = await startServer(serverConfig({ range: before, security: { servicesFile: file } }), silentLogger);
    const port = Number(new URL(server.url).port);
    onCleanup(() => server.stop());
    const { token } = await server.registry.issueToken(60_000);
    const credentials = await apiClient(server.url).enroll(token, "follower");
    const { key } = await server.registry.issueApiKey("tests", server.url);
    const lines: string[] = [];
    const service = await startService(
      {
        server: server.url,
        credentials,
        users: [Number(TEST_USER)],
        allowProcesses: TEST_ALLOWED_PROCESSES,
        configRefreshMs: 300,
      },
      createLogger({ write: (line) => lines.push(line) }),
    );
    onCleanup(() => service.stop());
    const link = () => runClient({ server: server.url, transport: transports.tcp, apiKey: key, timeoutMs: 5000 });
    expect((await link()).linked).toBe(true);

    // The operator moves the server to another range and a longer code; enrolled services and keys are kept.
    await server.stop();
    const after = findFreeRange(64);
    expect(after.start).not.toBe(before.start);
    server = await startServer(
      {
        ...serverConfig({ range: after, shape: { tuples: 4, portsPerTuple: 4 }, security: { servicesFile: file } }),
        port,
      },
      silentLogger,
    );
    await eventually(() => service.config.range.start === after.start, "the service to follow the new range", 10_000);
    const said = lines.find((l) => l.includes("configuration changed"));
    expect(said).toContain(`range ${before.start}-${before.end} -> ${after.start}-${after.end}`);
    expect(said).toContain("code 3x4 -> 4x4");
    expect(service.held.length).toBe(64);
    expect(service.held.every((p) => p >= after.start && p <= after.end)).toBe(true);

    await Bun.sleep(1100); // past the service's retry window for the last code's ports
    const again = await link();
    expect(again.linked).toBe(true);
    expect(again.tuples.flat()).toHaveLength(16);
  });

  test("a server that does not answer leaves the service as it is", async () => {
    const range = findFreeRange(64);
    const server = await startServer(serverConfig({ range, security: { requireSignatures: false } }), silentLogger);
    const lines: string[] = [];
    const service = await startService(
      { server: server.url, users: [Number(TEST_USER)], allowProcesses: TEST_ALLOWED_PROCESSES, configRefreshMs: 200 },
      createLogger({ level: "debug", write: (line) => lines.push(line) }),
    );
    onCleanup(() => service.stop());
    await server.stop();
    await eventually(
      () => lines.some((l) => l.includes("could not check the server's configuration")),
      "a failed check",
      10_000,
    );
    expect(service.config.range).toEqual(range);
    expect(service.held.length).toBe(64);
    expect(lines.some((l) => l.includes("configuration changed"))).toBe(false);
  });

  test("a server that goes away is said once at warn, and its return once at info (a log at the default level tells both)", async () => {
    const file = join(tempFolder(), "services.json");
    const range = findFreeRange(64);
    let server = await startServer(serverConfig({ range, security: { servicesFile: file } }), silentLogger);
    const port = Number(new URL(server.url).port);
    onCleanup(() => server.stop());
    const { token } = await server.registry.issueToken(60_000);
    const credentials = await apiClient(server.url).enroll(token, "watcher");
    const lines: string[] = [];
    const service = await startService(
      {
        server: server.url,
        credentials,
        users: [Number(TEST_USER)],
        allowProcesses: TEST_ALLOWED_PROCESSES,
        configRefreshMs: 100,
      },
      createLogger({ write: (line) => lines.push(line) }), // the default level, info
    );
    onCleanup(() => service.stop());
    await server.stop();
    await eventually(
      () => lines.some((l) => l.includes("the server does not answer")),
      "the server's silence said at the default level",
      10_000,
    );
    await Bun.sleep(1000); // several more failed checks (100 ms, doubling up to 800 ms)
    const away = lines.filter((l) => l.includes("could not check the server's configuration"));
    expect(away).toHaveLength(1);
    expect(away[0]).toContain("WARN the server does not answer; links wait until it does.");
    server = await startServer({ ...serverConfig({ range, security: { servicesFile: file } }), port }, silentLogger);
    await eventually(
      () => lines.some((l) => l.includes("the server answers again")),
      "the server's return said",
      10_000,
    );
    expect(lines.filter((l) => l.includes("the server answers again"))).toHaveLength(1);
    expect(lines.find((l) => l.includes("the server answers again"))).toMatch(
      /Z the server answers again \(after \d+ failed checks?\)/,
    );
  });
});
