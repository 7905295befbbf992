// Starts Debian's chromium or firefox-esr headless through puppeteer-core, with a fresh profile; killed by PID.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser } from "puppeteer-core";

export type BrowserKind = "chromium" | "firefox";

export const BROWSER_BINARIES: Record<BrowserKind, string> = {
  chromium: "/usr/bin/chromium",
  firefox: "/usr/bin/firefox-esr",
};

/** Headless Chromium as root, per BRIEF section 2. */
export const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-dev-shm-usage",
];

export interface LaunchOptions {
  /** Pages served from 127.0.0.1 on these ports count as public, so Local Network Access applies and its permission is denied. */
  publicPorts?: number[];
  /** Accept the self-signed certificate of a test https server. */
  acceptInsecureCerts?: boolean;
  /** Firefox only: more preferences, applied after the ones publicPorts sets. */
  firefoxPrefs?: Record<string, unknown>;
}

export interface LaunchedBrowser {
  kind: BrowserKind;
  browser: Browser;
  pid: number;
  /** Closes the browser, kills its process group by PID if it lingers, removes the profile. */
  close(): Promise<void>;
}

/** The browser binary, or an error saying how to install it: these tests are never skipped. */
export function browserBinary(kind: BrowserKind): string {
  const path = BROWSER_BINARIES[kind];
  if (!existsSync(path))
    throw new Error(
      `${path} is missing: run apt-get install chromium firefox-esr (real-browser tests are never skipped)`,
    );
  return path;
}

/**
 * Sets the Local Network Access permission for loopback ("loopback-network") of pages of `origin`, as a
 * user's answer to the prompt would: CDP Browser.setPermission in Chromium, WebDriver BiDi
 * permissions.setPermission in Firefox (both through puppeteer's BrowserContext.setPermission).
 * Both browsers then report it from navigator.permissions.query and enforce it.
 */
export async function setLocalNetworkPermission(
  launched: LaunchedBrowser,
  origin: string,
  state: "granted" | "denied" | "prompt",
): Promise<void> {
  await launched.browser
    .defaultBrowserContext()
    .setPermission(origin, { permission: { name: "loopback-network" as never }, state });
}

/** Launches one headless browser with a fresh profile. */
export async function launchBrowser(kind: BrowserKind, options: LaunchOptions = {}): Promise<LaunchedBrowser> {
  const executablePath = browserBinary(kind);
  const profile = mkdtempSync(join(tmpdir(), `pkipc-${kind}-`));
  const publicPorts = options.publicPorts ?? [];
  let browser: Browser;
  if (kind === "chromium") {
    const args = [...CHROMIUM_FLAGS];
    if (publicPorts.length)
      args.push(`--ip-address-space-overrides=${publicPorts.map((p) => `127.0.0.1:${p}=public`).join(",")}`);
    browser = await puppeteer.launch({
      executablePath,
      headless: true,
      userDataDir: profile,
      args,
      acceptInsecureCerts: options.acceptInsecureCerts ?? false,
      timeout: 30_000,
    });
  } else {
    const prefs: Record<string, unknown> = {};
    if (publicPorts.length) {
      // Treat the page as public and answer the Local Network Access prompt "deny", as a user might.
      prefs["network.lna.enabled"] = true;
      prefs["network.lna.blocking"] = true;
      prefs["network.lna.address_space.public.override"] = publicPorts.map((p) => `127.0.0.1:${p}`).join(",");
      prefs["network.localhost.prompt.testing"] = true;
      prefs["network.localhost.prompt.testing.allow"] = false;
    }
    Object.assign(prefs, options.firefoxPrefs);
    browser = await puppeteer.launch({
      browser: "firefox",
      executablePath,
      headless: true,
      userDataDir: profile,
      extraPrefsFirefox: prefs,
      acceptInsecureCerts: options.acceptInsecureCerts ?? false,
      timeout: 60_000,
    });
  }
  const pid = browser.process()?.pid;
  if (!pid) throw new Error(`${kind} started without a process id`);
  let closed = false;
  return {
    kind,
    browser,
    pid,
    async close() {
      if (closed) return;
      closed = true;
      await Promise.race([browser.close().catch(() => {}), Bun.sleep(5000)]);
      // puppeteer starts the browser as a process group leader: kill the group we started, by its PID.
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, "SIGKILL");
        } catch {
          // already gone
        }
      }
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
