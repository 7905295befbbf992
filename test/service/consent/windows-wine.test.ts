// The Windows consent dialog itself under Wine on Xvfb: a real window, answered with real keys and a real click (xdotool); no answer is deny at the deadline, and the runtime's timers run while it asks.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { startDisplay } from "../../desktop.ts";
import { ROOT } from "../../helpers.ts";
import { spawnWine, windowsBinary, wineTools } from "../../wine.ts";

interface Asked {
  answer?: string;
  ms?: number;
  ticks?: number;
  error?: string;
}

describe("the Win32 consent dialog (Wine)", () => {
  test("Enter denies, Tab Tab Enter always allows, a click on Allow once allows once, nobody answering denies at the deadline", async () => {
    wineTools(); // fails here, with the apt-get line, when Wine or mingw is missing
    const desktop = await startDisplay(); // and here when Xvfb or xdotool is
    const exe = await windowsBinary();
    let asked = 0;
    /** Runs the fixture (the real dialog code in the Windows runtime), and when its window is up, `answer` it. */
    const ask = async (timeoutMs: number, answer?: (window: string) => Promise<unknown>): Promise<Asked> => {
      const site = `https://site-${++asked}.example`;
      const child = spawnWine(exe, [join(ROOT, "test/fixtures/windows-dialog.ts"), String(timeoutMs), site], {
        ...desktop.env,
        BUN_BE_BUN: "1",
      });
      let window = "";
      for (const end = Date.now() + 60_000; !window && child.exitCode === null; await Bun.sleep(200)) {
        if (Date.now() > end) throw new Error(`no dialog for ${site} within 60 s`);
        window = (
          await desktop.xdotool("search", "--name", `^pkipc: link ${site.replace(/[.]/g, "\\.")}\\?$`).catch(() => "")
        ).split("\n")[0]!;
      }
      if (!window)
        throw new Error(
          `the fixture ended without a dialog: ${await new Response(child.stdout).text()}${await new Response(child.stderr).text()}`,
        );
      await desktop.xdotool("mousemove", "--window", window, "150", "40"); // the keys go where the pointer is
      await answer?.(window);
      const stdout = await new Response(child.stdout).text();
      const line = stdout.split("\n").find((l) => l.startsWith("{"));
      if (!line) throw new Error(`the fixture printed no result: ${stdout}${await new Response(child.stderr).text()}`);
      return JSON.parse(line) as Asked;
    };

    expect(await ask(60_000, () => desktop.xdotool("key", "Return"))).toMatchObject({ answer: "deny" }); // Deny has the focus
    expect(await ask(60_000, () => desktop.xdotool("key", "Escape"))).toMatchObject({ answer: "deny" });
    expect(await ask(60_000, () => desktop.xdotool("key", "Tab", "Tab", "Return"))).toMatchObject({ answer: "always" });
    // a click where "Allow once" is drawn (dialog units 7-83 x 106-122; Wine's dialog font makes a unit 1.75 px wide, 1.625 px high)
    expect(
      await ask(60_000, (window) => desktop.xdotool("mousemove", "--window", window, "79", "185", "click", "1")),
    ).toMatchObject({ answer: "once" });
    const nobody = await ask(3000);
    expect(nobody.answer).toBe("deny");
    expect(nobody.ms).toBeGreaterThanOrEqual(3000);
    expect(nobody.ticks).toBeGreaterThan(5); // the timer ran while the dialog was up: the service is not blocked
  }, 240_000);
});
