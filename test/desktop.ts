// A private Linux desktop for consent tests: Xvfb, its own D-Bus session bus and dunst, all stopped by PID after the test.
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { onCleanup, tempFolder, watchLines } from "./helpers.ts";

/** What `pkipc client --json` prints, as far as the consent tests read it. */
export interface ClientJson {
  linked: boolean;
  sessionId: string;
  state: string;
  reason?: string;
}

/** The programs a desktop test drives, with the Debian package that has each. */
const TOOLS: Record<string, string> = {
  Xvfb: "xvfb",
  "dbus-daemon": "dbus",
  dunst: "dunst",
  dunstctl: "dunst",
  "notify-send": "libnotify-bin",
  gdbus: "libglib2.0-bin",
};

/** Fails with the apt-get line when a tool is missing (never a skip). */
export function desktopTools(): void {
  const missing = [
    ...new Set(
      Object.entries(TOOLS)
        .filter(([tool]) => !Bun.which(tool))
        .map(([, pkg]) => pkg),
    ),
  ];
  if (missing.length)
    throw new Error(`desktop consent tests need ${missing.join(", ")}: apt-get install ${missing.join(" ")}`);
}

/** Runs a tool to its end; fails naming it when it exits non-zero. */
async function run(argv: string[], env: Record<string, string>): Promise<string> {
  const child = spawn(argv, env);
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const [out, err, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${argv.join(" ")} failed (${code}): ${err.trim()}`);
  return out.trim();
}

function spawn(argv: string[], env: Record<string, string>) {
  const child = Bun.spawn(argv, {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...env },
  });
  onCleanup(async () => {
    if (child.exitCode === null) {
      child.kill("SIGKILL");
      await child.exited;
    }
  });
  return child;
}

/** Xvfb on a free display; its name (":N"). */
async function startX(): Promise<string> {
  const xvfb = spawn(["Xvfb", "-displayfd", "1", "-nolisten", "tcp", "-screen", "0", "1024x768x24"], {});
  return `:${(await watchLines(xvfb.stdout).waitFor(/^(\d+)$/, 20_000))[1]}`;
}

/** A desktop with no notification server (nor session bus): the service must fall back to zenity; keys are typed with xdotool. */
export async function startBareDesktop() {
  const missing = ["Xvfb", "zenity", "xdotool"].filter((tool) => !Bun.which(tool));
  if (missing.length)
    throw new Error(`the zenity fallback test needs ${missing.join(", ")}: apt-get install xvfb zenity xdotool`);
  const env = { DISPLAY: await startX(), DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(tempFolder(), "no-bus")}` };
  return { env, xdotool: (...args: string[]) => run(["xdotool", ...args], env) };
}

/** A bare X display (for Wine's windows), driven with xdotool: real pointer moves, clicks and keys. */
export async function startDisplay() {
  const missing = ["Xvfb", "xdotool"].filter((tool) => !Bun.which(tool));
  if (missing.length) throw new Error(`this test needs ${missing.join(" and ")}: apt-get install xvfb xdotool`);
  const env = { DISPLAY: await startX() };
  return { env, xdotool: (...args: string[]) => run(["xdotool", ...args], env) };
}

/**
 * Starts the desktop. Answers are given the way a user gives them in dunst: its context menu (dunstctl
 * context, dunst's "dmenu" program here being a script that picks the action `choose` named), after
 * which dunst itself emits ActionInvoked over D-Bus. Every notification's summary and body is recorded
 * by a dunst rule's script.
 */
export async function startDesktop() {
  desktopTools();
  const folder = tempFolder();
  const display = await startX();
  const bus = spawn(["dbus-daemon", "--session", "--nofork", "--print-address=1"], {});
  const address = (await watchLines(bus.stdout).waitFor(/^(unix:\S+)$/, 20_000))[1]!;
  const env = { DISPLAY: display, DBUS_SESSION_BUS_ADDRESS: address };

  const pickFile = join(folder, "pick");
  const picker = join(folder, "pick.sh");
  writeFileSync(
    picker,
    `#!/bin/sh\n# dunst's menu: one line per action, "#Label (summary) [id,action]"\ngrep -m1 -F ",$(cat '${pickFile}')]"\n`,
  );
  const recorder = join(folder, "record.sh");
  const shown = join(folder, "shown.txt");
  writeFileSync(recorder, `#!/bin/sh\nprintf '%s\\n%s\\n--\\n' "$DUNST_SUMMARY" "$DUNST_BODY" >> '${shown}'\n`);
  chmodSync(picker, 0o755);
  chmodSync(recorder, 0o755);
  const config = join(folder, "dunstrc");
  writeFileSync(config, `[global]\ndmenu = ${picker}\n[record]\nsummary = "*"\nscript = ${recorder}\n`);
  const dunst = spawn(["dunst", "-config", config], env);
  const dunstLog = watchLines(dunst.stderr);
  const ctl = async (...args: string[]) => {
    const run = spawn(["dunstctl", ...args], env);
    const [out, code] = await Promise.all([new Response(run.stdout).text(), run.exited]);
    if (code !== 0)
      throw new Error(
        `dunstctl ${args.join(" ")} failed (${code}); dunst said: ${dunstLog.lines.slice(-5).join(" | ")}`,
      );
    return out.trim();
  };
  // dunst owns org.freedesktop.Notifications once dunstctl can talk to it
  for (let tries = 0; ; tries++) {
    try {
      await ctl("is-paused");
      break;
    } catch (error) {
      if (tries > 100) throw error;
      await Bun.sleep(100);
    }
  }
  return {
    env,
    /** Notifications on screen now. */
    displayed: async () => Number(await ctl("count", "displayed")),
    /** Waits until a notification is on screen (fails after timeoutMs). */
    async waitShown(timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs;
      while ((await this.displayed()) < 1) {
        if (Date.now() > end)
          throw new Error(
            `no notification shown within ${timeoutMs} ms; dunst said: ${dunstLog.lines.slice(-5).join(" | ")}`,
          );
        await Bun.sleep(100);
      }
    },
    /** Picks the top notification's action by name through dunst's own menu, as a user would. */
    async choose(action: "once" | "always" | "deny") {
      writeFileSync(pickFile, action);
      await ctl("context");
    },
    /** Summaries and bodies of every notification shown so far. */
    shown: () => (existsSync(shown) ? readFileSync(shown, "utf8") : ""),
  };
}
