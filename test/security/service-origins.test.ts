// Issue 13 on the service: the local user restricts which web origins may link (--allow-origins, --confirm ask with the origin), names are printed escaped, and http is refused off loopback.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { transports } from "../../plugins/transport/index.ts";
import { knockTuples } from "../../src/client/knock.ts";
import { createLogger, silentLogger } from "../../src/lib/log.ts";
import { apiClient } from "../../src/protocol/api-client.ts";
import { createSessions } from "../../src/server/sessions.ts";
import { memoryStore } from "../../src/server/state/memory/sessions.ts";
import { type RunningService, type ServiceOptions, startService } from "../../src/service/index.ts";
import { writeKeyFile } from "../../src/service/key-file.ts";
import type { ReportEvent } from "../../src/service/reporter.ts";
import {
  BUN,
  binary,
  enrollWith,
  eventually,
  onCleanup,
  ROOT,
  runPkipc,
  TEST_ALLOWED_PROCESSES,
  TEST_USER,
  tempFolder,
  testServer,
} from "../helpers.ts";

const SAAS = "https://saas.example";
const HOSTILE = "https://hostile.example";

/**
 * A real server, and a SaaS backend per web origin (each with an API key issued for that origin), so the
 * test creates sessions of any origin the way a SaaS would. No origin: a non-browser client's session,
 * made through the server's own session logic on the same store (nothing on the wire makes one).
 */
async function originServer(overrides: Parameters<typeof testServer>[0] = {}) {
  const store = memoryStore();
  const server = await testServer(overrides, store);
  const sessions = createSessions(server.config, store, silentLogger, { bindOrigin: true });
  const backends = new Map<string, ReturnType<typeof apiClient>>();
  const backend = async (origin: string) => {
    if (!backends.has(origin))
      backends.set(
        origin,
        apiClient(server.url, { apiKey: (await server.registry.issueApiKey(`backend of ${origin}`, origin)).key }),
      );
    return backends.get(origin)!;
  };
  return {
    server,
    backend,
    session: async (origin?: string) =>
      origin ? (await backend(origin)).createSession() : sessions.create({ address: "127.0.0.1" }),
  };
}

/** A service in this process whose text log lines the test reads. */
async function loggingService(server: string, options: Omit<ServiceOptions, "server"> = {}) {
  const lines: string[] = [];
  const reports: ReportEvent[] = [];
  const service: RunningService = await startService(
    {
      server,
      allowProcesses: TEST_ALLOWED_PROCESSES,
      users: [Number(TEST_USER)],
      onReport: (e) => reports.push(e),
      ...options,
    },
    createLogger({ write: (line) => lines.push(line) }).child({ role: "service" }),
  );
  onCleanup(() => service.stop());
  return { service, lines, reports };
}

/** A child's whole stderr as it arrives (a prompt ends without a newline). */
function collect(stream: ReadableStream<Uint8Array>) {
  let text = "";
  void (async () => {
    const decoder = new TextDecoder();
    const reader = stream.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  })().catch(() => {});
  return {
    text: () => text,
    async waitFor(pattern: RegExp, from = 0, timeoutMs = 15_000) {
      await eventually(
        () => pattern.test(text.slice(from)),
        `${pattern} in the service's output; so far:\n${text}`,
        timeoutMs,
      );
      return text.length;
    },
  };
}

describe("--allow-origins", () => {
  test("a service that allows one origin is not linked by a session of another, and names the origin of the one it links", async () => {
    const { server, session, backend } = await originServer();
    const credentials = await enrollWith(server.url);
    const { lines, reports } = await loggingService(server.url, { credentials, allowOrigins: [SAAS] });
    const hostile = await session(HOSTILE);
    await knockTuples(transports.tcp, hostile.tuples, { settleMs: 2, origin: HOSTILE });
    await eventually(() => reports.length === 1, "the report of the hostile session's knocks");
    expect(reports[0]!.answer?.code).toBe("ORIGIN_NOT_ALLOWED");
    expect(reports[0]!.origin).toBe(HOSTILE);
    expect((await (await backend(HOSTILE)).status(hostile.id)).state).toBe("pending");
    // past the service's 1 s window in which a knock on a port of the last burst counts as a retry
    await Bun.sleep(1100);
    const saas = await session(SAAS);
    await knockTuples(transports.tcp, saas.tuples, { settleMs: 2, origin: SAAS });
    await eventually(() => reports.length === 2, "the report of the allowed session's knocks");
    expect(reports[1]!.answer?.linked).toBe(true);
    expect(reports[1]!.origin).toBe(SAAS);
    expect((await (await backend(SAAS)).status(saas.id)).state).toBe("linked");
    expect(lines.some((l) => /report -> linked .*origin=https:\/\/saas\.example/.test(l))).toBe(true);
  });

  test("a server that links a session of another origin anyway gets every instruction of it refused", async () => {
    // The server is not trusted to honour allowOrigins: here a proxy strips it from every report.
    const { server, session, backend } = await originServer({ security: { requireSignatures: false } });
    const upstream = new URL(server.url);
    const proxy = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(request) {
        const url = new URL(request.url);
        let body: string | undefined = request.method === "GET" ? undefined : await request.text();
        if (url.pathname === "/v1/reports" && body) {
          const report = JSON.parse(body) as Record<string, unknown>;
          delete report.allowOrigins;
          body = JSON.stringify(report);
        }
        const headers = new Headers(request.headers);
        headers.delete("content-length");
        return fetch(`${upstream.origin}${url.pathname}${url.search}`, { method: request.method, headers, body });
      },
    });
    onCleanup(() => proxy.stop(true));
    const { lines, reports } = await loggingService(`http://127.0.0.1:${proxy.port}`, { allowOrigins: [SAAS] });
    const hostile = await session(HOSTILE);
    await (await backend(HOSTILE)).queueInstruction(hostile.id, {
      name: "log",
      args: { message: "from a hostile page" },
    });
    await knockTuples(transports.tcp, hostile.tuples, { settleMs: 2, origin: HOSTILE });
    await eventually(() => reports.length === 1, "the report");
    expect(reports[0]!.answer?.linked).toBe(true);
    expect(reports[0]!.origin).toBe(HOSTILE);
    expect(reports[0]!.acks).toHaveLength(1);
    expect(reports[0]!.acks[0]).toMatchObject({
      ok: false,
      result: expect.stringMatching(/origin https:\/\/hostile\.example is not allowed/),
    });
    expect(lines.some((l) => /instruction .*from a hostile page/.test(l))).toBe(false);
    await eventually(() => lines.some((l) => /does not allow; its instructions are refused/.test(l)), "the warning");
  });

  test("a bad origin is refused at start in one sentence", async () => {
    const run = await runPkipc(
      ["service", "--users", TEST_USER, "--allow-origins", "https://saas.example/path"],
      15_000,
    );
    expect(run.code).toBe(64);
    expect(run.stderr).toMatch(/is not a web origin such as https:\/\/saas\.example/);
  });
});

describe("--confirm ask", () => {
  test("shows the session's origin and the process (escaped), links only on yes, and text logs escape names too", async () => {
    const { server, session, backend } = await originServer();
    const keyFile = join(tempFolder(), "key.json");
    writeKeyFile(keyFile, await enrollWith(server.url), server.url);
    const child = Bun.spawn(
      [
        binary(),
        "service",
        "--server",
        server.url,
        "--key-file",
        keyFile,
        "--users",
        TEST_USER,
        "--allow-processes",
        TEST_ALLOWED_PROCESSES.join(","),
        "--confirm",
        "ask",
      ],
      { stdin: "pipe", stdout: "ignore", stderr: "pipe", cwd: tempFolder(), env: { ...process.env, NO_COLOR: "1" } },
    );
    onCleanup(async () => {
      if (child.exitCode === null) child.kill("SIGKILL");
      await child.exited;
    });
    const err = collect(child.stderr);
    await err.waitFor(/holding \d+ of \d+ ports/);

    // A knocker whose process name repaints the screen red and reverses the text after it.
    const spoof = "\x1b[31mfirefox\u202e";
    const declined = await session(SAAS);
    const knocker = Bun.spawn(
      [BUN, join(ROOT, "test/fixtures/comm-knocker.ts"), spoof, JSON.stringify(declined.tuples), SAAS],
      { stdout: "pipe", stderr: "inherit" },
    );
    onCleanup(() => void (knocker.exitCode === null && knocker.kill("SIGKILL")));
    let at = await err.waitFor(/Link it\? \[y\/N\] $/);
    const prompt = err.text().slice(0, at);
    expect(prompt).toContain(`for a session of the website ${SAAS}`);
    expect(prompt).toContain("\\x1b[31mfirefox\\u202e (pid");
    expect(prompt).not.toMatch(/[\x1b\u202e]/);
    child.stdin.write("n\n");
    child.stdin.flush();
    at = await err.waitFor(/link declined by the local user.*\n/, at);
    const declinedLine = err
      .text()
      .split("\n")
      .find((l) => l.includes("link declined by the local user"))!;
    expect(declinedLine).toContain("origin=https://saas.example");
    expect(declinedLine).toContain("\\x1b[31mfirefox\\u202e");
    expect(declinedLine).not.toMatch(/[\x1b\u202e]/);
    await knocker.exited;
    expect((await (await backend(SAAS)).status(declined.id)).state).toBe("declined"); // told to the server at once: the page and backend see DECLINED

    await Bun.sleep(1100); // past the 1 s retry window of the last burst
    const accepted = await session(SAAS);
    const again = Bun.spawn(
      [BUN, join(ROOT, "test/fixtures/comm-knocker.ts"), "knocker", JSON.stringify(accepted.tuples), SAAS],
      { stdout: "pipe", stderr: "inherit" },
    );
    onCleanup(() => void (again.exitCode === null && again.kill("SIGKILL")));
    at = await err.waitFor(/Link it\? \[y\/N\] $/, at);
    expect(err.text().slice(at)).toBe(""); // nothing is linked while the user has not answered
    expect((await (await backend(SAAS)).status(accepted.id)).state).toBe("pending");
    child.stdin.write("y\n");
    child.stdin.flush();
    await err.waitFor(/report -> linked .*origin=https:\/\/saas\.example/, at);
    expect((await (await backend(SAAS)).status(accepted.id)).state).toBe("linked");
    await again.exited;
  });
});

describe("the server's URL", () => {
  test("plain http to a server off this machine is refused in one sentence, before anything is sent", async () => {
    const run = await runPkipc(
      ["service", "--users", TEST_USER, "--server", "http://192.0.2.10:7870", "--enroll", "some-token"],
      15_000,
    );
    expect(run.code).toBe(64);
    expect(run.stderr).toMatch(/plain http.*use https:\/\//);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
  });

  test("the library refuses it too, while http on loopback stays allowed", async () => {
    await expect(
      startService({ server: "http://pkipc.example:7870", users: [Number(TEST_USER)] }, silentLogger),
    ).rejects.toMatchObject({ code: "CONFIG" });
    const { server } = await originServer();
    const { service } = await loggingService(server.url.replace("127.0.0.1", "localhost"), {
      credentials: await enrollWith(server.url),
    });
    expect(service.held.length).toBeGreaterThan(0);
  });
});
