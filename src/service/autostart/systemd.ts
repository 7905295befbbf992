// Linux autostart: a systemd user unit (~/.config/systemd/user/pkipc.service), enabled with `systemctl --user` when a user manager answers.
import { existsSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { autostartName } from "../profile.ts";
import { join } from "node:path";
import { type Autostart, type AutostartContext, type AutostartEntry, type AutostartPlan } from "./types.ts";
import { writeAtomically } from "../../lib/atomic-file.ts";
import { AutostartError } from "../../lib/errors.ts";

export const UNIT_NAME = "pkipc.service";
const DEFAULT_UNIT_NAME = UNIT_NAME;

/**
 * One ExecStart word: double-quoted, with \ and " escaped (systemd.syntax), % doubled (specifiers)
 * and $ doubled (environment substitution), so every option reaches pkipc exactly as given.
 */
export function systemdQuote(word: string): string {
  if (/[\0\r\n]/.test(word))
    throw new AutostartError(
      "an option for the installed service contains a line break or NUL, which a unit file cannot hold",
    );
  return `"${word
    .replace(/[\\"]/g, (c) => `\\${c}`)
    .replace(/%/g, "%%")
    .replace(/\$/g, () => "$$")}"`;
}

/**
 * The unit's text: started with the user's session (default.target), restarted on failure but not
 * forever: 10 s apart, at most 5 starts in 10 minutes (then it stays failed until the next login or
 * `systemctl --user reset-failed`), and never after exit 64, pkipc's answer to a configuration it refuses
 * (no restart can fix that). systemd 254's growing delays (RestartSteps) are left out: Debian 12's
 * systemd 252 does not know them and would warn.
 */
export function systemdUnit(entry: AutostartEntry): string {
  return [
    "# Written by `pkipc service install`; `pkipc service uninstall` removes it.",
    "[Unit]",
    "Description=pkipc service: links this machine to web sessions through port knocks from its browsers",
    "StartLimitIntervalSec=600",
    "StartLimitBurst=5",
    "",
    "[Service]",
    "Type=exec",
    `ExecStart=${[entry.program, ...entry.args].map(systemdQuote).join(" ")}`,
    "Restart=on-failure",
    "RestartSec=10",
    "RestartPreventExitStatus=64",
    "",
    "[Install]",
    "WantedBy=default.target",
    "",
  ].join("\n");
}

/** The systemd user-unit backend. */
export function systemdAutostart(context: AutostartContext): Autostart {
  const UNIT_NAME = context.profile ? `${autostartName(context.profile)}.service` : DEFAULT_UNIT_NAME;
  const unitPath = join(context.configHome, "systemd", "user", UNIT_NAME);
  const wantsLink = join(context.configHome, "systemd", "user", "default.target.wants", UNIT_NAME);
  const systemctl = (...args: string[]) => context.run(["systemctl", "--user", ...args]);
  const manual = `systemctl --user daemon-reload && systemctl --user enable --now ${UNIT_NAME}`;

  /** A user manager answers (not the case in most containers, or over ssh without a session). */
  async function managerReachable(): Promise<boolean> {
    const r = await systemctl("show-environment");
    return r.code === 0;
  }

  return {
    name: "systemd-user",
    plan(entry): AutostartPlan {
      return {
        target: unitPath,
        content: systemdUnit(entry),
        commands: [
          ["systemctl", "--user", "daemon-reload"],
          ["systemctl", "--user", "enable", UNIT_NAME],
          ["systemctl", "--user", "restart", UNIT_NAME],
        ],
      };
    },
    async install(entry) {
      const text = systemdUnit(entry);
      const before = existsSync(unitPath) ? readFileSync(unitPath, "utf8") : undefined;
      const done: string[] = [];
      if (before === text) done.push(`${unitPath} is already installed with these options`);
      else {
        // the one checked writer: no folder on the way that others may change, no link followed
        writeAtomically(unitPath, text, 0o644);
        done.push(`${before === undefined ? "wrote" : "updated"} ${unitPath}`);
      }
      if (!(await managerReachable())) {
        done.push(
          `no systemd user manager answers here (a container, or no login session): the service will start with your next session once enabled; run: ${manual}`,
        );
        return done;
      }
      for (const step of [
        ["daemon-reload"],
        ["enable", UNIT_NAME],
        [before === text ? "start" : "restart", UNIT_NAME],
      ]) {
        const r = await systemctl(...step);
        if (r.code !== 0)
          throw new AutostartError(
            `systemctl --user ${step.join(" ")} failed: ${(r.stderr || r.stdout).trim().split("\n")[0]}; the unit is at ${unitPath}`,
          );
      }
      done.push(`enabled and started ${UNIT_NAME} (systemctl --user status ${UNIT_NAME})`);
      return done;
    },
    async uninstall() {
      const done: string[] = [];
      if (await managerReachable()) {
        await systemctl("disable", "--now", UNIT_NAME); // fails harmlessly when it was never enabled
      }
      // `enable` made this link; remove it ourselves when the manager could not (only if it is ours).
      try {
        if (readlinkSync(wantsLink) === unitPath) {
          rmSync(wantsLink);
          done.push(`removed ${wantsLink}`);
        }
      } catch {
        // no link: nothing was enabled
      }
      if (existsSync(unitPath)) {
        rmSync(unitPath);
        done.push(`removed ${unitPath}`);
        if (await managerReachable()) await systemctl("daemon-reload");
      } else done.push(`${unitPath} was not installed`);
      return done;
    },
    async status() {
      const installed = existsSync(unitPath);
      if (!(await managerReachable())) {
        return {
          installed,
          running: undefined,
          detail: `${installed ? `installed at ${unitPath}` : "not installed"}; no systemd user manager answers, so whether it runs is unknown`,
        };
      }
      const active = (await systemctl("is-active", UNIT_NAME)).stdout.trim();
      const running = active === "active";
      return {
        installed,
        running,
        detail: `${installed ? `installed at ${unitPath}` : "not installed"}; ${running ? "running" : `not running (${active || "unknown"})`}`,
      };
    },
  };
}
