// Starts WebKitGTK's MiniBrowser through Debian's WebKitWebDriver under xvfb-run, in a process group of its own that close() kills by PID.
import { existsSync, readFileSync } from "node:fs";
import { findFreePort } from "../../src/lib/ports.ts";
import { linkScript, type PageLink } from "./page.ts";
import { newSession, waitReady, type WebDriverSession } from "./webdriver.ts";

export const WEBKIT_DRIVER = "/usr/bin/WebKitWebDriver";
export const XVFB_RUN = "/usr/bin/xvfb-run";
export const MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";
export const XAUTH = "/usr/bin/xauth";
const INSTALL = "apt-get install webkit2gtk-driver xvfb xauth";

export interface LaunchedWebKit {
  kind: "webkit";
  session: WebDriverSession;
  /** The process group leader (xvfb-run): Xvfb, WebKitWebDriver, MiniBrowser and its WebKit processes are all in its group. */
  pid: number;
  /** MiniBrowser's version as the driver reports it (WebKitGTK's, e.g. "2.50.6"). */
  version: string;
  /** Ends the session, then stops the whole process group by its PID (TERM, then KILL). */
  close(): Promise<void>;
}

/** MiniBrowser comes with libwebkit2gtk-4.1-0, a dependency of webkit2gtk-driver; xvfb-run needs xauth. */
export const WEBKIT_PROGRAMS = [WEBKIT_DRIVER, MINIBROWSER, XVFB_RUN, XAUTH];

/** Checks the programs the WebKit tests need, or throws saying how to install them: these tests are never skipped. */
export function webkitPrograms(paths: readonly string[] = WEBKIT_PROGRAMS): void {
  for (const path of paths) {
    if (!existsSync(path)) throw new Error(`${path} is missing: run ${INSTALL} (real-browser tests are never skipped)`);
  }
}

/** The pids whose process group is `group` (read from /proc). */
function groupMembers(group: number): number[] {
  const found: number[] = [];
  for (const entry of new Bun.Glob("[0-9]*").scanSync({ cwd: "/proc", onlyFiles: false })) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "latin1");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]) === group) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Signals every process of the group `group` at once. */
function signalGroup(group: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-group, signal);
  } catch {
    // already gone
  }
}

/**
 * Starts Xvfb + WebKitWebDriver (through `setsid xvfb-run -a`, so the group is ours alone) and opens a
 * MiniBrowser session. `acceptInsecureCerts` lets it load the self-signed https test server.
 */
export async function launchWebKit(options: { acceptInsecureCerts?: boolean } = {}): Promise<LaunchedWebKit> {
  webkitPrograms();
  const port = findFreePort();
  // setsid: the child is not a group leader, so setsid execs in place and xvfb-run's pid is the new group's id.
  const child = Bun.spawn(["setsid", XVFB_RUN, "-a", WEBKIT_DRIVER, `--port=${port}`, "--host=127.0.0.1"], {
    stdin: "ignore",
    // Not piped: nothing reads the driver's chatter during a test, and a full pipe would stall it.
    stdout: "ignore",
    stderr: "ignore",
  });
  const pid = child.pid;
  let closed = false;
  const close = async (session?: WebDriverSession) => {
    if (closed) return;
    closed = true;
    await session?.close();
    // TERM everything but xvfb-run itself: it sees its command end, then stops Xvfb and removes its
    // temporary folder (a TERM of its own would end it before that clean-up). Whatever remains gets KILL.
    for (const member of groupMembers(pid)) {
      if (member === pid) continue;
      try {
        process.kill(member, "SIGTERM");
      } catch {
        // already gone
      }
    }
    for (let i = 0; i < 30 && groupMembers(pid).length; i++) await Bun.sleep(100);
    signalGroup(pid, "SIGKILL");
    await child.exited;
  };
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitReady(base, 30_000, () => child.exitCode === null);
    const session = await newSession(base, {
      browserName: "MiniBrowser",
      acceptInsecureCerts: options.acceptInsecureCerts ?? false,
      "webkitgtk:browserOptions": { binary: MINIBROWSER, args: ["--automation"] },
    });
    return {
      kind: "webkit",
      session,
      pid,
      version: String(session.capabilities.browserVersion ?? ""),
      close: () => close(session),
    };
  } catch (error) {
    await close();
    throw new Error(`WebKit did not start: ${(error as Error).message}`, { cause: error });
  }
}

/** Runs the browser module's link() in the session's current tab, like linkInPage does in a puppeteer page. */
export function linkInWebKit(
  session: WebDriverSession,
  moduleUrl: string,
  options: { transport?: string; timeoutMs?: number } = {},
): Promise<PageLink> {
  return session.evaluate(linkScript, [moduleUrl, options], (options.timeoutMs ?? 10_000) + 10_000);
}
