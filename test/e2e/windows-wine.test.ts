// The Windows binary under Wine: a Windows service and a Windows client against a real Linux server, and the link names the client.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { ClientResult } from "../../src/client/index.ts";
import { enrollmentToken, serverProcess, tempFolder, watchLines } from "../helpers.ts";
import { runWine, spawnWine, windowsBinary, winePath, wineTools } from "../wine.ts";

describe("Windows under Wine", () => {
  test("a Windows service attributes a Windows client's knocks to the client's PID and executable", async () => {
    wineTools(); // fails here, with the apt-get line, when Wine or mingw is missing
    const exe = await windowsBinary();
    const server = await serverProcess();
    const keyFile = winePath(join(tempFolder(), "key.json"));
    const service = spawnWine(
      exe,
      [
        "service",
        "--server",
        server.url,
        "--key-file",
        keyFile,
        "--allow-processes",
        "pkipc.exe",
        "--enroll",
        await enrollmentToken(server.url),
      ],
      { PKIPC_LOG_LEVEL: "debug" },
    ); // unattributed knocks are logged at debug: shown if the test fails
    const serviceLog = watchLines(service.stderr);
    // the first run prepares the Wine prefix (about 10 s)
    await serviceLog.waitFor(/holding (\d+) of \1 ports/, 90_000);

    const results: (ClientResult & { clientPid: number })[] = [];
    for (let i = 0; i < 2; i++) {
      // Under Wine one GetExtendedTcpTable call costs rows x Wine processes x descriptors (0.2-3 s on a busy
      // machine): give the link the session's whole lifetime rather than the default 10 s
      // as the SaaS backend: with its API key the client may queue an instruction and see who linked
      const run = await runWine(
        exe,
        ["client", "--server", server.url, "--json", "--timeout", "30s", "--instruction", `log:message=wine-${i}`],
        60_000,
        {
          PKIPC_API_KEY: server.apiKey,
        },
      );
      try {
        results.push(JSON.parse(run.stdout));
      } catch {
        throw new Error(`the Windows client printed no JSON (exit ${run.code}): ${run.stdout}${run.stderr}`);
      }
      expect(run.code, `${run.stdout}\n${serviceLog.lines.join("\n")}`).toBe(0);
    }
    for (const result of results) {
      expect(result.linked).toBe(true);
      // the link names the Windows process that knocked: the client itself, by PID and executable
      expect(result.process?.pid).toBe(result.clientPid);
      expect(result.process?.name).toBe("pkipc.exe");
      expect(result.process?.exe.toLowerCase()).toBe(winePath(exe).toLowerCase());
      expect(result.process?.user).toMatch(/\\/); // DOMAIN\name from the process token
      // and the service that carried out the instruction is another process
      const [instruction] = result.instructions;
      expect(instruction?.state).toBe("done");
      expect(instruction?.result).toMatch(/^logged by service pid \d+$/);
      expect(instruction?.result).not.toBe(`logged by service pid ${result.clientPid}`);
    }
    expect(results[0]!.clientPid).not.toBe(results[1]!.clientPid);
    await serviceLog.waitFor(new RegExp(`report -> linked pid=${results[1]!.clientPid} name=pkipc\\.exe`));
    console.log(
      `Wine: link ${results.map((r) => `${r.timeToLinkMs?.toFixed(0)} ms`).join(", ")} (client-measured, under Wine: not a Windows number)`,
    );
  }, 180_000);
});
