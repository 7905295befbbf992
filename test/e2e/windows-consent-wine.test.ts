// Consent on Windows, end to end under Wine: the Windows build asks with its native dialog (user32 through bun:ffi) on an Xvfb display; keys typed with xdotool answer it.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { type ClientJson, startDisplay } from "../desktop.ts";
import { backendApi, enrollmentToken, serverProcess, tempFolder, watchLines } from "../helpers.ts";
import { spawnWine, windowsBinary, winePath, wineTools } from "../wine.ts";

describe("--confirm desktop on Windows (Wine)", () => {
  test("the dialog names the site; Enter denies (DECLINED at client and backend), Tab+Enter allows once, no answer denies", async () => {
    wineTools(); // fails here, with the apt-get line, when Wine or mingw is missing
    const desktop = await startDisplay(); // and here when Xvfb or xdotool is
    const exe = await windowsBinary();
    const server = await serverProcess();
    const origin = new URL(server.url).origin;
    const service = spawnWine(
      exe,
      [
        "service",
        "--server",
        server.url,
        "--key-file",
        winePath(join(tempFolder(), "key.json")),
        "--state-dir",
        winePath(tempFolder()),
        "--allow-processes",
        "pkipc.exe",
        "--enroll",
        await enrollmentToken(server.url),
        "--confirm",
        "desktop",
        "--consent-timeout",
        "10s",
      ],
      { ...desktop.env, PKIPC_LOG_LEVEL: "debug" },
    );
    const serviceLog = watchLines(service.stderr);
    await serviceLog.waitFor(/holding (\d+) of \1 ports/, 90_000); // the first run prepares the Wine prefix
    const backend = backendApi(server.url);
    const client = (message: string) =>
      spawnWine(
        exe,
        ["client", "--server", server.url, "--json", "--timeout", "30s", "--instruction", `log:message=${message}`],
        { PKIPC_API_KEY: server.apiKey },
      );
    const result = async (child: ReturnType<typeof client>) => {
      const [stdout, stderr] = await Promise.all([
        new Response(child.stdout).text(),
        new Response(child.stderr).text(),
      ]);
      try {
        return JSON.parse(stdout) as ClientJson;
      } catch {
        throw new Error(
          `the Windows client printed no JSON: ${stdout}${stderr}\nservice:\n${serviceLog.lines.join("\n")}`,
        );
      }
    };
    /** How a client that brought up no dialog ended: its state and reason, or what it printed. */
    const outcome = async (child: ReturnType<typeof client>) => {
      const stdout = await new Response(child.stdout).text();
      try {
        const json = JSON.parse(stdout) as ClientJson;
        return `${json.state}: ${json.reason}`;
      } catch {
        return stdout.slice(0, 300);
      }
    };
    const title = `^pkipc: link ${origin.replace(/[.]/g, "\\.")}\\?$`;
    /**
     * Starts a client and waits for the dialog its link brings up (the title names the site), then puts the
     * pointer over the dialog's text, so the keys typed go to it. Under Wine on a busy machine a client's
     * knocks can go unattributed (the Wine attributor's table reads miss them: see attribution/windows):
     * no dialog comes and the client ends at its timeout; then another client tries, three at most.
     */
    const clientAsking = async (message: string) => {
      for (let attempt = 1; ; attempt++) {
        const child = client(message);
        for (const end = Date.now() + 60_000; child.exitCode === null && Date.now() < end; await Bun.sleep(250)) {
          const window = (await desktop.xdotool("search", "--name", title).catch(() => "")).split("\n")[0]!;
          if (window) {
            await desktop.xdotool("mousemove", "--window", window, "150", "40");
            return { child, window };
          }
        }
        const ended =
          child.exitCode === null ? "no dialog within 60 s" : `the client ended without one: ${await outcome(child)}`;
        if (attempt === 3)
          throw new Error(
            `no dialog titled ${title} for 3 clients (${ended}); the service said:\n${serviceLog.lines.join("\n")}`,
          );
        console.log(`attempt ${attempt}: ${ended}; another client`);
        child.kill("SIGKILL");
      }
    };

    // 1. Deny, with Enter: Deny is the focused default button.
    const { child: denied } = await clientAsking("wine-deny");
    await desktop.xdotool("key", "Return");
    const deniedResult = await result(denied);
    expect(deniedResult).toMatchObject({ linked: false, state: "declined" });
    expect(deniedResult.reason).toMatch(/^DECLINED/);
    expect((await backend.status(deniedResult.sessionId)).reason).toBe("DECLINED");
    await serviceLog.waitFor(/answered deny .*dialog=win32/);

    // 2. Allow once: Tab moves to "Allow once", Enter presses it; the link is made and the instruction carried out.
    const { child: allowed } = await clientAsking("wine-once");
    await desktop.xdotool("key", "Tab", "Return");
    const allowedResult = await result(allowed);
    expect(allowedResult).toMatchObject({ linked: true, state: "linked" });
    expect((await backend.status(allowedResult.sessionId)).instructions[0]).toMatchObject({
      name: "log",
      state: "done",
    });
    await serviceLog.waitFor(/answered once .*dialog=win32/);

    // 3. Nobody answers: at the consent timeout the dialog goes and the answer is deny.
    const { child: unanswered, window } = await clientAsking("wine-nobody");
    const unansweredResult = await result(unanswered);
    expect(unansweredResult).toMatchObject({ linked: false, state: "declined" });
    expect((await backend.status(unansweredResult.sessionId)).reason).toBe("DECLINED");
    const denials = () => serviceLog.lines.filter((line) => /answered deny .*dialog=win32/.test(line)).length;
    for (let waited = 0; denials() < 2 && waited < 10_000; waited += 100) await Bun.sleep(100);
    expect(denials()).toBe(2);
    // and its window is gone from the display
    const left = await desktop.xdotool("search", "--name", "^pkipc: link").catch(() => "");
    expect(left.split("\n")).not.toContain(window);
  }, 240_000);
});
