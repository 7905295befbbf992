// `pkipc service status` tells the truth: running or not (PID checked against the live process), server and whether it answers, ports, origins, last link; exit codes as systemctl's.
import { describe, expect, test } from "bun:test";
import type { TCPSocketListener } from "bun";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeKeyFile } from "../../src/service/key-file.ts";
import { binary, onCleanup, runPkipc, serverProcess, serviceProcess, tempFolder, TEST_USER } from "../helpers.ts";

interface StatusFacts {
  running: boolean;
  pid?: number;
  since?: string;
  installed: boolean;
  server?: string;
  serviceId?: string;
  serverAnswers?: boolean;
  serverDetail?: string;
  ports?: { held: number; missing: { port: number; reason: string }[] };
  allowOrigins?: string[] | "any";
  lastLink?: { origin: string; process: string };
  staleStateFile?: string;
  exitCode: number;
}

describe("pkipc service status", () => {
  test("running, then its server gone, then killed, then installed: each said as it is, exit 0, 0, 4, 3", async () => {
    const home = tempFolder();
    const state = tempFolder();
    const keyFile = join(tempFolder(), "key.json");
    const env = { HOME: home, PKIPC_STATE_DIR: state };
    const status = async () => {
      const run = await runPkipc(["service", "status", "--key-file", keyFile, "--json"], 20_000, env);
      const facts = JSON.parse(run.stdout) as StatusFacts;
      expect(facts.exitCode).toBe(run.code);
      return facts;
    };
    const server = await serverProcess();
    // another program holds two ports of the range
    const squatters: TCPSocketListener<undefined>[] = [server.range.start, server.range.start + 1].map((port) =>
      Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }),
    );
    onCleanup(() => squatters.forEach((s) => s.stop(true)));
    const origin = new URL(server.url).origin;
    const service = await serviceProcess(
      server.url,
      ["--key-file", keyFile, "--allow-origins", `${origin},https://other.example`],
      env,
    );
    // the same facts in the log at start
    await service.log.waitFor(
      new RegExp(
        `holding 62 of 64 ports .*server=${server.url}/ service=\\S+ .*origins=${origin},https://other.example`,
      ),
    );

    const running = await status();
    expect(running).toMatchObject({
      running: true,
      pid: service.child.pid,
      installed: false,
      server: `${server.url}/`,
      serverAnswers: true,
      exitCode: 0,
    });
    expect(Date.now() - Date.parse(running.since!)).toBeLessThan(120_000);
    expect(running.serviceId).toMatch(/^\S{8,}$/);
    expect(running.ports!.held).toBe(62);
    expect(running.ports!.missing.map((m) => m.port)).toEqual([server.range.start, server.range.start + 1]);
    expect(running.allowOrigins).toEqual([origin, "https://other.example"]);
    expect(running.lastLink).toBeUndefined();

    const link = await runPkipc(["client", "--server", server.url, "--json", "--timeout", "30s"], 45_000);
    expect(JSON.parse(link.stdout).linked).toBe(true);
    expect((await status()).lastLink).toMatchObject({ origin, process: "pkipc" });

    // the text form says the same in sentences
    const text = await runPkipc(["service", "status", "--key-file", keyFile], 20_000, env);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`pkipc service: running as PID ${service.child.pid} since `);
    expect(text.stdout).toMatch(/server: \S+ \(enrolled as \S+\); answers \(\d+ ms\)/);
    expect(text.stdout).toMatch(
      /ports: 62 of 64 held on 127\.0\.0\.1 .*missing 2: \d+\(EADDRINUSE\),\d+\(EADDRINUSE\)/,
    );

    server.child.kill("SIGTERM");
    await server.child.exited;
    const deaf = await status(); // within its deadline, not hanging
    expect(deaf).toMatchObject({ running: true, serverAnswers: false, exitCode: 0 });
    expect(deaf.serverDetail).toMatch(/^does not answer: /);

    // killed: its state file stays behind, but no live process runs it
    service.child.kill("SIGKILL");
    await service.child.exited;
    expect(existsSync(join(state, "service.json"))).toBe(true);
    const dead = await status();
    expect(dead).toMatchObject({ running: false, installed: false, exitCode: 4 });
    expect(dead.staleStateFile).toContain(`PID ${service.child.pid}`);
    expect(dead.server).toBe(`${server.url}/`); // from the key file

    const install = await runPkipc(["service", "install", "--key-file", keyFile, "--users", TEST_USER], 20_000, env);
    expect(install.code).toBe(0);
    expect(await status()).toMatchObject({ running: false, installed: true, exitCode: 3 });
  });

  test("the same facts on the service's /metrics and in its log at start: since, server and whether it answers, ports held and missing, origins, last link", async () => {
    const state = tempFolder();
    const server = await serverProcess();
    const origin = new URL(server.url).origin;
    // another program holds two ports of the range
    const squatters: TCPSocketListener<undefined>[] = [server.range.start, server.range.start + 1].map((port) =>
      Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }),
    );
    onCleanup(() => squatters.forEach((s) => s.stop(true)));
    // the desktop's user allowed this site always: it links without a question (no desktop needed here)
    writeFileSync(join(state, "allowed-origins.json"), JSON.stringify([origin]), { mode: 0o600 });
    const service = await serviceProcess(
      server.url,
      ["--metrics-listen", "127.0.0.1:0", "--allow-origins", `${origin},https://other.example`, "--confirm", "desktop"],
      { PKIPC_STATE_DIR: state },
    );
    const line = (await service.log.waitFor(/status: (.*)$/))[1]!;
    expect(line).toMatch(
      new RegExp(
        `^running as PID ${service.child.pid} since \\d{4}-\\d\\d-\\d\\dT\\S+Z; server ${server.url}/ answers \\(\\d+ ms\\); `,
      ),
    );
    expect(line).toContain(
      `ports: 62 of 64 held, missing 2: ${server.range.start}(EADDRINUSE),${server.range.start + 1}(EADDRINUSE); `,
    );
    expect(line).toContain(
      "origins allowed: 2 listed, 1 remembered (always allowed on this desktop); last link: none since start",
    );

    const metricsUrl = (await service.log.waitFor(/metrics on (http:\/\/\S+)/))[1]!;
    const scrape = async () => {
      try {
        return await (await fetch(metricsUrl, { signal: AbortSignal.timeout(10_000) })).text();
      } catch (error) {
        const exit = service.child.exitCode ?? service.child.signalCode ?? "still running";
        throw new Error(
          `no metrics from the service (${exit}): ${error}; its log:\n${service.log.lines.slice(-20).join("\n")}`,
        );
      }
    };
    const value = (text: string, series: string) => {
      const found = text.split("\n").find((l) => l.startsWith(`${series} `));
      return found === undefined ? undefined : Number(found.slice(series.length + 1));
    };
    const before = await scrape();
    expect(
      value(
        before,
        `pkipc_service_info{server="${server.url}/",service_id="${/service=(\S+)/.exec(service.log.lines.join("\n"))![1]}",origins="listed"}`,
      ),
    ).toBe(1);
    expect(Math.abs(value(before, "pkipc_service_start_time_seconds")! - Date.now() / 1000)).toBeLessThan(120);
    expect(value(before, "pkipc_service_server_up")).toBe(1);
    expect(value(before, "pkipc_service_ports_held")).toBe(62);
    expect(value(before, "pkipc_service_ports_missing")).toBe(2);
    expect(value(before, 'pkipc_service_allowed_origins{source="allow-origins"}')).toBe(2);
    expect(value(before, 'pkipc_service_allowed_origins{source="remembered"}')).toBe(1);
    expect(before).not.toContain("pkipc_service_last_link_timestamp_seconds{");

    const link = await runPkipc(["client", "--server", server.url, "--json", "--timeout", "30s"], 45_000);
    expect(JSON.parse(link.stdout).linked).toBe(true);
    const linkedAt = value(
      await scrape(),
      `pkipc_service_last_link_timestamp_seconds{origin="${origin}",process="pkipc"}`,
    );
    expect(Math.abs(linkedAt! - Date.now() / 1000)).toBeLessThan(60);

    // the server gone: said within the check's deadline once the last answer is older than its 5 s
    server.child.kill("SIGTERM");
    await server.child.exited;
    let up = value(await scrape(), "pkipc_service_server_up");
    for (let waited = 0; up !== 0 && waited < 20_000; waited += 500) {
      await Bun.sleep(500);
      up = value(await scrape(), "pkipc_service_server_up");
    }
    expect(up).toBe(0);
  });

  test("--key-file is honoured while a service runs: the enrollment shown is that file's, and the running service's own key file is named", async () => {
    const state = tempFolder();
    const keyFile = join(tempFolder(), "key.json");
    writeKeyFile(keyFile, { serviceId: "askedabout12", key: "A".repeat(43) }, "http://127.0.0.1:9");
    // a live pkipc process stands for the running service: its state file names another key file
    const server = await serverProcess();
    await Bun.write(
      join(state, "service.json"),
      JSON.stringify({
        pid: server.child.pid,
        exe: binary(),
        startedAt: new Date().toISOString(),
        server: server.url,
        serviceId: "runningone12",
        keyFile: "/elsewhere/key.json",
        host: "127.0.0.1",
        range: "1-2",
        held: 2,
        heldPorts: "1-2",
        missing: [],
        allowOrigins: "any",
        instructions: ["log"],
      }),
    );
    const run = await runPkipc(["service", "status", "--json", "--key-file", keyFile], 20_000, {
      HOME: tempFolder(),
      PKIPC_STATE_DIR: state,
    });
    const facts = JSON.parse(run.stdout) as StatusFacts & { keyFileNote?: string };
    expect(facts.serviceId).toBe("askedabout12");
    expect(facts.server).toStartWith("http://127.0.0.1:9");
    expect(facts.keyFileNote).toContain("/elsewhere/key.json");
  });

  test("a PID that now belongs to another program is not taken for the service", async () => {
    const state = tempFolder();
    // a state file naming this test's own PID, which runs bun, not pkipc
    await Bun.write(
      join(state, "service.json"),
      JSON.stringify({
        pid: process.pid,
        exe: "/usr/local/bin/pkipc",
        startedAt: new Date().toISOString(),
        server: "http://127.0.0.1:9/",
        keyFile: "/nonexistent",
        host: "127.0.0.1",
        range: "1-2",
        held: 2,
        heldPorts: "1-2",
        missing: [],
        allowOrigins: "any",
        instructions: ["log"],
      }),
    );
    const run = await runPkipc(["service", "status", "--json", "--key-file", "/nonexistent/key.json"], 20_000, {
      HOME: tempFolder(),
      PKIPC_STATE_DIR: state,
    });
    expect(run.code).toBe(4);
    expect(JSON.parse(run.stdout)).toMatchObject({ running: false, exitCode: 4 });
  });
});
