// macOS autostart: a LaunchAgent (~/Library/LaunchAgents/<label>.plist) loaded into the user's GUI session with launchctl.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { autostartName } from "../profile.ts";
import { join } from "node:path";
import { type Autostart, type AutostartContext, type AutostartEntry, type AutostartPlan } from "./types.ts";
import { writeAtomically } from "../../lib/atomic-file.ts";
import { AutostartError } from "../../lib/errors.ts";

export const LAUNCHD_LABEL = "org.pkipc.service";
/** The LaunchAgent's label: org.pkipc.service, or org.pkipc.service.PROFILE. */
const launchdLabel = (profile?: string) => (profile ? `org.pkipc.service.${profile}` : "org.pkipc.service");

const escapeXml = (text: string) =>
  text.replace(/[&<>"]/g, (c) => `&${{ "&": "amp", "<": "lt", ">": "gt", '"': "quot" }[c]};`);

/**
 * The agent's plist: ProgramArguments run the binary by absolute path with the given options,
 * RunAtLoad starts it at login, KeepAlive restarts it when it exits with an error (as systemd's
 * Restart=on-failure), at most once a minute (ThrottleInterval: launchd has no limit on the number of
 * restarts, so the rate is bounded instead); output goes to ~/Library/Logs/pkipc-service.log. ProcessType Interactive
 * keeps launchd from throttling it: a knock must be attributed within the 20-40 ms a browser keeps
 * the socket open.
 */
export function launchdPlist(entry: AutostartEntry, home: string, profile?: string): string {
  const LAUNCHD_LABEL = launchdLabel(profile);
  const log = join(home, "Library", "Logs", `${autostartName(profile)}-service.log`);
  // Control characters other than tab cannot appear in an XML 1.0 document at all.
  for (const word of [entry.program, ...entry.args]) {
    if (/[\0-\x08\x0b\x0c\x0e-\x1f]/.test(word))
      throw new AutostartError(
        "an option for the installed service contains a control character, which a plist cannot hold",
      );
  }
  const args = [entry.program, ...entry.args].map((a) => `\t\t<string>${escapeXml(a)}</string>`);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    "<!-- Written by `pkipc service install`; `pkipc service uninstall` removes it. -->",
    '<plist version="1.0">',
    "<dict>",
    "\t<key>Label</key>",
    `\t<string>${LAUNCHD_LABEL}</string>`,
    "\t<key>ProgramArguments</key>",
    "\t<array>",
    ...args,
    "\t</array>",
    "\t<key>RunAtLoad</key>",
    "\t<true/>",
    "\t<key>KeepAlive</key>",
    "\t<dict>",
    "\t\t<key>SuccessfulExit</key>",
    "\t\t<false/>",
    "\t</dict>",
    "\t<key>ThrottleInterval</key>",
    "\t<integer>60</integer>",
    "\t<key>ProcessType</key>",
    "\t<string>Interactive</string>",
    "\t<key>StandardOutPath</key>",
    `\t<string>${escapeXml(log)}</string>`,
    "\t<key>StandardErrorPath</key>",
    `\t<string>${escapeXml(log)}</string>`,
    "</dict>",
    "</plist>",
    "",
  ].join("\n");
}

/** The LaunchAgent backend. */
export function launchdAutostart(context: AutostartContext): Autostart {
  const LAUNCHD_LABEL = launchdLabel(context.profile);
  const plistPath = join(context.home, "Library", "LaunchAgents", `${LAUNCHD_LABEL}.plist`);
  const domain = `gui/${context.uid}`;
  const service = `${domain}/${LAUNCHD_LABEL}`;
  const launchctl = (...args: string[]) => context.run(["launchctl", ...args]);
  const loaded = async () => (await launchctl("print", service)).code === 0;

  return {
    name: "launchd",
    plan(entry): AutostartPlan {
      return {
        target: plistPath,
        content: launchdPlist(entry, context.home, context.profile),
        commands: [
          ["launchctl", "bootout", service],
          ["launchctl", "bootstrap", domain, plistPath],
        ],
      };
    },
    async install(entry) {
      const text = launchdPlist(entry, context.home, context.profile);
      const before = existsSync(plistPath) ? readFileSync(plistPath, "utf8") : undefined;
      const done: string[] = [];
      const wasLoaded = await loaded();
      if (before === text && wasLoaded) return [`${plistPath} is already installed with these options and loaded`];
      if (before !== text) {
        // the one checked writer: no folder on the way that others may change, no link followed
        writeAtomically(plistPath, text, 0o644);
        done.push(`${before === undefined ? "wrote" : "updated"} ${plistPath}`);
      }
      if (wasLoaded) await launchctl("bootout", service); // the old options are still running
      const r = await launchctl("bootstrap", domain, plistPath);
      if (r.code !== 0) {
        done.push(
          `launchctl could not load it now (${(r.stderr || r.stdout).trim().split("\n")[0] || `exit ${r.code}`}); it starts at your next login, or run: launchctl bootstrap ${domain} "${plistPath}"`,
        );
      } else done.push(`loaded ${LAUNCHD_LABEL} into ${domain} (launchctl print ${service})`);
      return done;
    },
    async uninstall() {
      const done: string[] = [];
      if (await loaded()) {
        const r = await launchctl("bootout", service);
        if (r.code !== 0)
          throw new AutostartError(
            `launchctl bootout ${service} failed: ${(r.stderr || r.stdout).trim().split("\n")[0]}`,
          );
        done.push(`stopped ${LAUNCHD_LABEL}`);
      }
      if (existsSync(plistPath)) {
        rmSync(plistPath);
        done.push(`removed ${plistPath}`);
      } else done.push(`${plistPath} was not installed`);
      return done;
    },
    async status() {
      const installed = existsSync(plistPath);
      const r = await launchctl("print", service);
      const running = r.code === 0 && /^\s*state = running\s*$/m.test(r.stdout);
      const pid = /^\s*pid = (\d+)\s*$/m.exec(r.stdout)?.[1];
      const where = installed ? `installed at ${plistPath}` : "not installed";
      const state =
        r.code !== 0 ? "not loaded" : running ? `running${pid ? ` (pid ${pid})` : ""}` : "loaded, not running";
      return { installed, running, detail: `${where}; ${state}` };
    },
  };
}
