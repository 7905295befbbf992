// The consent dialogs' exact commands (macOS and Windows can only be checked by what would run here) and how each answer is read.
import { describe, expect, test } from "bun:test";
import { macosAnswer, macosCommand } from "../../../src/service/consent/macos.ts";
import { notifyAnswer, notifyCommand } from "../../../src/service/consent/notification.ts";
import { consentText, escapeMarkup } from "../../../src/service/consent/text.ts";
import { windowsAnswer, windowsCommand, windowsScript } from "../../../src/service/consent/windows.ts";
import { zenityAnswer, zenityCommand } from "../../../src/service/consent/zenity.ts";

const hostile = consentText({
  process: { pid: 42, name: "evil\x1b[2J\u202e", exe: "/tmp/a\"b'c", user: "alice", browser: { name: "Firefox", version: "128", exe: "/usr/lib/firefox/firefox" } } as never,
  origin: "https://saas.example",
  instructions: ["key", "log"],
  keys: ["api-token"],
});

describe("consent text", () => {
  test("names the site, the browser and what is asked; control and bidi characters show as escapes", () => {
    expect(hostile.title).toBe("pkipc: link https://saas.example?");
    expect(hostile.body).toContain("https://saas.example wants to link this computer through Firefox 128.");
    expect(hostile.body).toContain("It asks to: key, log. Keys it would store: api-token.");
    expect(hostile.body).toContain("evil\\x1b[2J\\u202e");
    expect(hostile.body).not.toMatch(/[\x1b\u202e]/);
    expect(escapeMarkup("<b>&</b>")).toBe("&lt;b&gt;&amp;&lt;/b&gt;");
  });
});

describe("macOS (osascript)", () => {
  test("the exact command: Deny is default and cancel, quotes escaped, gives up after the timeout", () => {
    const text = { title: 'pkipc: link "x"?', body: 'say \\"hi\\" "there"' };
    expect(macosCommand(text, 20_000)).toEqual([
      "/usr/bin/osascript",
      "-e",
      'display dialog "say \\\\\\"hi\\\\\\" \\"there\\"" with title "pkipc: link \\"x\\"?" buttons {"Deny", "Always allow this site", "Allow once"} default button "Deny" cancel button "Deny" with icon caution giving up after 20',
    ]);
  });
  test("answers", () => {
    expect(macosAnswer(0, "button returned:Allow once, gave up:false")).toBe("once");
    expect(macosAnswer(0, "button returned:Always allow this site, gave up:false")).toBe("always");
    expect(macosAnswer(0, "button returned:, gave up:true")).toBe("deny");
    expect(macosAnswer(1, "")).toBe("deny");
    expect(macosAnswer(null, "")).toBe("deny");
  });
});

describe("Windows (PowerShell, Windows Forms)", () => {
  test("the exact command: the script as -EncodedCommand, text in single quotes with quotes doubled", () => {
    const argv = windowsCommand({ title: "t", body: "it's $(calc)" }, 20_000);
    expect(argv.slice(0, 8)).toEqual(["powershell.exe", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-WindowStyle", "Hidden", "-EncodedCommand"]);
    const script = Buffer.from(argv[8]!, "base64").toString("utf16le");
    expect(script).toBe(windowsScript({ title: "t", body: "it's $(calc)" }, 20_000));
    expect(script).toContain("$l.Text='it''s $(calc)';"); // single quotes: $(...) is text, not run
    expect(script).toContain("$t.Interval=20000;");
    for (const name of ["once", "always", "deny"]) expect(script).toContain(`$script:answer='${name}'`);
  });
  test("answers", () => {
    expect(windowsAnswer(0, "once\r\n")).toBe("once");
    expect(windowsAnswer(0, "always")).toBe("always");
    expect(windowsAnswer(0, "deny")).toBe("deny");
    expect(windowsAnswer(1, "once")).toBe("deny");
  });
});

describe("Linux", () => {
  test("notify-send: three named actions, none the default, the body's markup escaped, expiring at the timeout", () => {
    expect(notifyCommand({ title: "T", body: "<i>b</i>" }, 20_000)).toEqual([
      "notify-send", "--app-name=pkipc", "--urgency=critical", "--print-id", "--expire-time=20000",
      "--action=once=Allow once", "--action=always=Always allow this site", "--action=deny=Deny", "--", "T", "&lt;i&gt;b&lt;/i&gt;",
    ]);
    expect(notifyAnswer("7\nonce\n")).toBe("once");
    expect(notifyAnswer("7\nalways\n")).toBe("always");
    expect(notifyAnswer("7\n")).toBe("deny"); // closed or expired without an action
    expect(notifyAnswer("7\nsomething\n")).toBe("deny");
  });
  test("zenity: OK allows once, the extra button always, anything else denies", () => {
    expect(zenityCommand({ title: "T", body: "B" }, 20_000)).toEqual([
      "zenity", "--question", "--no-markup", "--width=460", "--title=T", "--text=B",
      "--ok-label=Allow once", "--cancel-label=Deny", "--extra-button=Always allow this site", "--default-cancel", "--timeout=20",
    ]);
    expect(zenityAnswer(0, "")).toBe("once");
    expect(zenityAnswer(1, "Always allow this site\n")).toBe("always");
    expect(zenityAnswer(1, "")).toBe("deny");
    expect(zenityAnswer(5, "")).toBe("deny");
  });
});
