// The consent dialogs' exact commands and Windows' dialog template (macOS by what would run here; Windows also under Wine, test/e2e/windows-consent-wine.test.ts) and how each answer is read.
import { describe, expect, test } from "bun:test";
import { macosAnswer, macosCommand } from "../../../src/service/consent/macos.ts";
import { notifyAnswer, notifyCommand } from "../../../src/service/consent/notification.ts";
import { consentText, escapeMarkup } from "../../../src/service/consent/text.ts";
import {
  answerFor,
  BUTTON_IDS,
  dialogTemplate,
  MAX_BODY,
  MAX_TITLE,
} from "../../../src/service/consent/windows-template.ts";
import { dialogsFor } from "../../../src/service/consent/index.ts";
import { zenityAnswer, zenityCommand } from "../../../src/service/consent/zenity.ts";

const hostile = consentText({
  process: {
    pid: 42,
    name: "evil\x1b[2J\u202e",
    exe: "/tmp/a\"b'c",
    user: "alice",
    browser: { name: "Firefox", version: "128", exe: "/usr/lib/firefox/firefox" },
  } as never,
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

/** The template's header and items read back (winuser.h DLGTEMPLATE / DLGITEMTEMPLATE), as Windows reads them. */
function readTemplate(bytes: Uint8Array) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const u16 = () => ((at += 2), view.getUint16(at - 2, true));
  const u32 = () => ((at += 4), view.getUint32(at - 4, true));
  const wide = () => {
    let text = "";
    for (let c = u16(); c !== 0; c = u16()) text += String.fromCharCode(c);
    return text;
  };
  const style = u32();
  const exStyle = u32();
  const count = u16();
  const box = [u16(), u16(), u16(), u16()];
  expect([u16(), u16()]).toEqual([0, 0]); // no menu, the dialog class
  const title = wide();
  const font = { size: u16(), face: wide() };
  const items = [];
  for (let i = 0; i < count; i++) {
    at = (at + 3) & ~3;
    const item = {
      style: u32(),
      exStyle: u32(),
      box: [u16(), u16(), u16(), u16()],
      id: u16(),
      class: [u16(), u16()],
      text: wide(),
      extra: u16(),
    };
    items.push(item);
  }
  expect(at).toBe(bytes.length);
  return { style, exStyle, box, title, font, items };
}

describe("Windows (a Win32 dialog through bun:ffi)", () => {
  test("the template: the escaped text as is, & shown literally, Deny the first tab stop and default, Escape denying", () => {
    const read = readTemplate(dialogTemplate({ title: hostile.title, body: `${hostile.body} R&D` }));
    expect(read.title).toBe("pkipc: link https://saas.example?");
    expect(read.style & 0x40).toBe(0x40); // DS_SETFONT
    expect(read.exStyle & 0x8).toBe(0x8); // topmost: not hidden behind the browser that knocked
    expect(read.font).toEqual({ size: 8, face: "MS Shell Dlg" });
    const [text, first, ...others] = read.items;
    expect(text!.class).toEqual([0xffff, 0x0082]); // static
    expect(text!.text).toBe(`${hostile.body} R&D`);
    expect(text!.text).toContain("evil\\x1b[2J\\u202e");
    expect(text!.style & 0x80).toBe(0x80); // SS_NOPREFIX: "&" is shown, not an underline
    expect(first).toMatchObject({ id: BUTTON_IDS.deny, text: "Deny", class: [0xffff, 0x0080] });
    expect(first!.id).toBe(2); // IDCANCEL: Escape and the close box deny
    expect(first!.style & 0x1).toBe(0x1); // BS_DEFPUSHBUTTON
    expect(first!.style & 0x10000).toBe(0x10000); // WS_TABSTOP, the first: it has the focus, so Enter denies
    expect(others.map((b) => [b.id, b.text])).toEqual([
      [BUTTON_IDS.once, "Allow once"],
      [BUTTON_IDS.always, "Always allow this site"],
    ]);
    for (const item of read.items) expect(item.extra).toBe(0);
  });

  test("a huge body is clipped, so the template stays small", () => {
    const read = readTemplate(dialogTemplate({ title: "t".repeat(10_000), body: "b".repeat(100_000) }));
    expect(read.title.length).toBe(MAX_TITLE);
    expect(read.items[0]!.text.length).toBe(MAX_BODY);
    expect(read.items[0]!.text.endsWith("\u2026")).toBe(true);
  });

  test("answers by control id; any other id is none", () => {
    expect(answerFor(BUTTON_IDS.once)).toBe("once");
    expect(answerFor(BUTTON_IDS.always)).toBe("always");
    expect(answerFor(2)).toBe("deny");
    expect(answerFor(1)).toBeUndefined(); // IDOK: not a button here
  });

  test("the dialogs chosen per platform: the Win32 one on Windows", () => {
    expect(dialogsFor("win32").map((d) => d.name)).toEqual(["win32"]);
    expect(dialogsFor("darwin").map((d) => d.name)).toEqual(["osascript"]);
    expect(dialogsFor("linux").map((d) => d.name)).toEqual(["notification", "zenity"]);
  });
});

describe("Linux", () => {
  test("notify-send: three named actions, none the default, the body's markup escaped, expiring at the timeout", () => {
    expect(notifyCommand({ title: "T", body: "<i>b</i>" }, 20_000)).toEqual([
      "notify-send",
      "--app-name=pkipc",
      "--urgency=critical",
      "--print-id",
      "--expire-time=20000",
      "--action=once=Allow once",
      "--action=always=Always allow this site",
      "--action=deny=Deny",
      "--",
      "T",
      "&lt;i&gt;b&lt;/i&gt;",
    ]);
    expect(notifyAnswer("7\nonce\n")).toBe("once");
    expect(notifyAnswer("7\nalways\n")).toBe("always");
    expect(notifyAnswer("7\n")).toBe("deny"); // closed or expired without an action
    expect(notifyAnswer("7\nsomething\n")).toBe("deny");
  });
  test("zenity: OK allows once, the extra button always, anything else denies", () => {
    expect(zenityCommand({ title: "T", body: "B" }, 20_000)).toEqual([
      "zenity",
      "--question",
      "--no-markup",
      "--width=460",
      "--title=T",
      "--text=B",
      "--ok-label=Allow once",
      "--cancel-label=Deny",
      "--extra-button=Always allow this site",
      "--default-cancel",
      "--timeout=20",
    ]);
    expect(zenityAnswer(0, "")).toBe("once");
    expect(zenityAnswer(1, "Always allow this site\n")).toBe("always");
    expect(zenityAnswer(1, "")).toBe("deny");
    expect(zenityAnswer(5, "")).toBe("deny");
  });
});
