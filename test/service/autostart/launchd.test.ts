// The LaunchAgent: its plist parsed back as a plist reader would, and the launchctl steps install, status and uninstall take.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { create } from "xmlbuilder2";
import { LAUNCHD_LABEL, launchdAutostart, launchdPlist } from "../../../src/service/autostart/launchd.ts";
import { plistStrings } from "../../../src/service/attribution/darwin/plist.ts";
import { tempFolder } from "../../helpers.ts";
import { recordingRunner } from "./recording.ts";

type PlistValue = string | number | boolean | PlistValue[] | { [key: string]: PlistValue };

/** A plist's XML as values (dict, array, string, true, false): enough to check what launchd will read. */
function parsePlist(xml: string): PlistValue {
  const doc = create(xml);
  const elements = (node: Node) => Array.from(node.childNodes).filter((n): n is Element => n.nodeType === 1);
  const value = (el: Element): PlistValue => {
    switch (el.tagName) {
      case "string":
        return el.textContent ?? "";
      case "integer":
        return Number(el.textContent);
      case "true":
        return true;
      case "false":
        return false;
      case "array":
        return elements(el).map(value);
      case "dict": {
        const out: Record<string, PlistValue> = {};
        const children = elements(el);
        for (let i = 0; i < children.length; i += 2) {
          if (children[i]!.tagName !== "key") throw new Error(`dict entry ${i / 2} has no key`);
          out[children[i]!.textContent ?? ""] = value(children[i + 1]!);
        }
        return out;
      }
      default:
        throw new Error(`unexpected <${el.tagName}>`);
    }
  };
  const plist = doc.root().node as unknown as Element;
  if (plist.tagName !== "plist") throw new Error("root is not <plist>");
  return value(elements(plist)[0]!);
}

const args = ["service", "--server", "http://127.0.0.1:7870/?a=1&b=<2>", "--name", `"Ada's" Mac`];

describe("LaunchAgent plist", () => {
  test("parsed back: label, ProgramArguments exactly as given, RunAtLoad, KeepAlive on failure at most once a minute, log path", () => {
    const text = launchdPlist({ program: "/Applications/pkipc/pkipc", args }, "/Users/ada");
    expect(parsePlist(text)).toEqual({
      Label: LAUNCHD_LABEL,
      ProgramArguments: ["/Applications/pkipc/pkipc", ...args],
      RunAtLoad: true,
      KeepAlive: { SuccessfulExit: false },
      ThrottleInterval: 60,
      ProcessType: "Interactive",
      StandardOutPath: "/Users/ada/Library/Logs/pkipc-service.log",
      StandardErrorPath: "/Users/ada/Library/Logs/pkipc-service.log",
    });
    // The service's own Info.plist reader reads the same top-level strings.
    expect(plistStrings(new TextEncoder().encode(text)).get("Label")).toBe(LAUNCHD_LABEL);
  });

  test("a control character in an option is refused with a sentence", () => {
    expect(() => launchdPlist({ program: "/p", args: ["a\x01"] }, "/Users/ada")).toThrow(/control character/);
  });

  test("install loads it into gui/UID, twice is no change, status reads launchctl print, uninstall boots it out and removes the file", async () => {
    const home = tempFolder();
    let loaded = false;
    const run = recordingRunner((argv) => {
      if (argv[1] === "print")
        return loaded
          ? { stdout: "gui/501/org.pkipc.service = {\n\tstate = running\n\tpid = 4242\n}" }
          : { code: 113, stderr: "Could not find service" };
      if (argv[1] === "bootstrap") loaded = true;
      if (argv[1] === "bootout") loaded = false;
      return {};
    });
    const autostart = launchdAutostart({ home, configHome: join(home, ".config"), uid: 501, run });
    const file = join(home, "Library", "LaunchAgents", `${LAUNCHD_LABEL}.plist`);
    const entry = { program: "/usr/local/bin/pkipc", args };
    expect(await autostart.install(entry)).toEqual([
      `wrote ${file}`,
      `loaded ${LAUNCHD_LABEL} into gui/501 (launchctl print gui/501/${LAUNCHD_LABEL})`,
    ]);
    const text = readFileSync(file, "utf8");
    expect(await autostart.install(entry)).toEqual([`${file} is already installed with these options and loaded`]);
    expect(readFileSync(file, "utf8")).toBe(text);
    expect(await autostart.status()).toEqual({
      installed: true,
      running: true,
      detail: `installed at ${file}; running (pid 4242)`,
    });
    await autostart.uninstall();
    expect(existsSync(file)).toBe(false);
    expect(await autostart.status()).toMatchObject({ installed: false, running: false });
    expect(run.calls).toEqual([
      `launchctl print gui/501/${LAUNCHD_LABEL}`,
      `launchctl bootstrap gui/501 ${file}`,
      `launchctl print gui/501/${LAUNCHD_LABEL}`,
      `launchctl print gui/501/${LAUNCHD_LABEL}`,
      `launchctl print gui/501/${LAUNCHD_LABEL}`,
      `launchctl bootout gui/501/${LAUNCHD_LABEL}`,
      `launchctl print gui/501/${LAUNCHD_LABEL}`,
    ]);
  });

  test("when launchctl cannot load it (no GUI session), the file stays and the user is told what to run", async () => {
    const home = tempFolder();
    const run = recordingRunner((argv) =>
      argv[1] === "bootstrap"
        ? { code: 125, stderr: "Bootstrap failed: 125: Domain does not support specified action" }
        : { code: 113 },
    );
    const lines = await launchdAutostart({ home, configHome: "", uid: 501, run }).install({
      program: "/usr/local/bin/pkipc",
      args: ["service"],
    });
    expect(lines[1]).toContain("Domain does not support specified action");
    expect(lines[1]).toContain("launchctl bootstrap gui/501");
  });
});
