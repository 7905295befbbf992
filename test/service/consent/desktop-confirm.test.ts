// When --confirm desktop asks: a site not allowed always, any --ask-for instruction (at the link and after it); "always" remembered; no dialog is deny.
import { describe, expect, test } from "bun:test";
import { chmodSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, DialogUnavailableError } from "../../../src/lib/errors.ts";
import { silentLogger } from "../../../src/lib/log.ts";
import { desktopConfirm, requireOwnDesktop } from "../../../src/service/consent/index.ts";
import { readRememberedOrigins } from "../../../src/service/consent/origins.ts";
import type { ConsentAnswer, ConsentDialog, ConsentText } from "../../../src/service/consent/types.ts";
import { tempFolder } from "../../helpers.ts";

const browser = { pid: 7, name: "firefox-esr", exe: "/usr/lib/firefox-esr/firefox-esr", user: "ana" } as never;
const SITE = "https://saas.example";
const key = { id: "i1", name: "key", args: { name: "api-token" } };
const log = { id: "i2", name: "log", args: {} };

function scripted(...answers: ConsentAnswer[]) {
  const asked: ConsentText[] = [];
  const dialog: ConsentDialog = {
    name: "scripted",
    ask: async (text) => (asked.push(text), answers.shift() ?? "deny"),
  };
  return { dialog, asked };
}

describe("desktopConfirm", () => {
  test("asks for a new site; 'always' is remembered (0600) and the next link goes unasked, unless it carries an --ask-for instruction", async () => {
    const stateDir = tempFolder();
    const { dialog, asked } = scripted("always", "deny");
    const confirm = desktopConfirm({ dialogs: [dialog], stateDir, askFor: ["key"], log: silentLogger });
    expect(await confirm(browser, 8, SITE, { instructions: [log] })).toBe("always");
    expect(readRememberedOrigins(stateDir)).toEqual([SITE]);
    expect(statSync(join(stateDir, "allowed-origins.json")).mode & 0o777).toBe(0o600);
    expect(await confirm(browser, 8, SITE, { instructions: [log] })).toBe("once");
    expect(asked).toHaveLength(1);
    // a marked instruction is asked about even for the remembered site, and its key's name is shown
    expect(await confirm(browser, 8, SITE, { instructions: [key] })).toBe("deny");
    expect(asked).toHaveLength(2);
    expect(asked[1]!.body).toContain("Keys it would store: api-token.");
  });

  test("after the link only --ask-for instructions are asked about", async () => {
    const { dialog, asked } = scripted("deny");
    const confirm = desktopConfirm({ dialogs: [dialog], stateDir: tempFolder(), askFor: ["key"], log: silentLogger });
    expect(await confirm(browser, 0, SITE, { instructions: [log], afterLink: true })).toBe("once");
    expect(asked).toHaveLength(0);
    expect(await confirm(browser, 0, SITE, { instructions: [key], afterLink: true })).toBe("deny");
    expect(asked[0]!.title).toBe(`pkipc: ${SITE} asks for more`);
  });

  test("falls back to the next dialog; none available is deny", async () => {
    const unavailable: ConsentDialog = {
      name: "none",
      ask: async () => {
        throw new DialogUnavailableError("no server");
      },
    };
    const { dialog } = scripted("once");
    expect(
      await desktopConfirm({ dialogs: [unavailable, dialog], stateDir: tempFolder(), log: silentLogger })(
        browser,
        8,
        SITE,
      ),
    ).toBe("once");
    expect(
      await desktopConfirm({ dialogs: [unavailable], stateDir: tempFolder(), log: silentLogger })(browser, 8, SITE),
    ).toBe("deny");
  });

  test("a remembered-origins file others could have written is not trusted: the site is asked about", async () => {
    const stateDir = tempFolder();
    writeFileSync(join(stateDir, "allowed-origins.json"), JSON.stringify([SITE]), { mode: 0o666 });
    chmodSync(join(stateDir, "allowed-origins.json"), 0o666);
    const { dialog, asked } = scripted("deny");
    expect(await desktopConfirm({ dialogs: [dialog], stateDir, log: silentLogger })(browser, 8, SITE)).toBe("deny");
    expect(asked).toHaveLength(1);
  });
});

describe("requireOwnDesktop", () => {
  test("a service asking on its own desktop serves only its own user: others are refused naming them; no uids (Windows) is one user", () => {
    expect(() => requireOwnDesktop([1000], 1000)).not.toThrow();
    expect(() => requireOwnDesktop(undefined, 1000)).not.toThrow();
    expect(() => requireOwnDesktop(undefined, undefined)).not.toThrow();
    expect(() => requireOwnDesktop([1000, 1001], 0)).toThrow(
      /runs as \(uid 0\), but --users also serves uid 1000, 1001: run one service per user/,
    );
    expect(() => requireOwnDesktop([1000, 1001], 1000)).toThrow(ConfigError);
  });
});
