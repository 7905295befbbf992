// Browser identity on macOS: Info.plist reading (XML and bplist00) and the walk from a knocking process to its app, on fake bundles.
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  appBundleOf,
  darwinBrowserIdentifier,
  type ProcessSource,
} from "../../../../src/service/attribution/darwin/identity.ts";
import { binaryPlistStrings, plistStrings, xmlPlistStrings } from "../../../../src/service/attribution/darwin/plist.ts";
import type { ProcessInfo } from "../../../../src/protocol/schemas.ts";
import { tempFolder } from "../../../helpers.ts";
import { PlistError } from "../../../../src/lib/errors.ts";

/** An Info.plist as Xcode writes them (Chrome's, shortened). */
const chromePlist = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>CFBundleDevelopmentRegion</key>
	<string>en</string>
	<key>CFBundleDocumentTypes</key>
	<array>
		<dict>
			<key>CFBundleName</key>
			<string>not this one: nested</string>
		</dict>
	</array>
	<key>CFBundleExecutable</key>
	<string>Google Chrome</string>
	<key>CFBundleIdentifier</key>
	<string>com.google.Chrome</string>
	<key>CFBundleName</key>
	<string>Chrome</string>
	<key>CFBundleShortVersionString</key>
	<string>131.0.6778.86</string>
	<key>LSHasLocalizedDisplayName</key>
	<true/>
	<key>NSHumanReadableCopyright</key>
	<string>Copyright 2024 Google LLC. All rights reserved. &lt;&amp;&gt;</string>
	<key>LSMinimumSystemVersion</key>
	<string>11.0</string>
</dict>
</plist>
`;

const helperPlist = chromePlist.replace("<string>Chrome</string>", "<string>Google Chrome Helper</string>");

/**
 * A minimal bplist00 writer for the tests: one dictionary of ASCII or UTF-16 strings plus one
 * integer and one array value, one-byte refs and offsets, the 32-byte trailer at the end.
 */
function bplist(entries: [string, string | number | string[]][]): Uint8Array {
  const objects: number[][] = [];
  const add = (bytes: number[]) => objects.push(bytes) - 1;
  const str = (s: string) => {
    const ascii = /^[\x00-\x7f]*$/.test(s);
    const units = ascii
      ? [...s].map((c) => c.charCodeAt(0))
      : [...s].flatMap((c) => [c.charCodeAt(0) >> 8, c.charCodeAt(0) & 255]);
    const length = ascii ? s.length : s.length;
    const head = length < 15 ? [(ascii ? 0x50 : 0x60) | length] : [(ascii ? 0x50 : 0x60) | 0xf, 0x10, length];
    return add([...head, ...units]);
  };
  const dictIndex = add([]); // placeholder, object 0 is the top
  const keys = entries.map(([k]) => str(k));
  const values = entries.map(([, v]) => {
    if (typeof v === "number") return add([0x10, v]);
    if (Array.isArray(v)) {
      const refs = v.map(str);
      return add([0xa0 | refs.length, ...refs]);
    }
    return str(v);
  });
  objects[dictIndex] = [0xd0 | entries.length, ...keys, ...values];
  const body: number[] = [..."bplist00"].map((c) => c.charCodeAt(0));
  const offsets: number[] = [];
  for (const o of objects) {
    offsets.push(body.length);
    body.push(...o);
  }
  const table = body.length;
  body.push(...offsets);
  const trailer = new Uint8Array(32);
  const t = new DataView(trailer.buffer);
  t.setUint8(6, 1);
  t.setUint8(7, 1);
  t.setBigUint64(8, BigInt(objects.length));
  t.setBigUint64(16, 0n);
  t.setBigUint64(24, BigInt(table));
  return new Uint8Array([...body, ...trailer]);
}

const safariPlist = bplist([
  ["CFBundleIdentifier", "com.apple.Safari"],
  ["CFBundleName", "Safari"],
  ["CFBundleShortVersionString", "18.1"],
  ["CFBundleVersion", 20],
  ["CFBundleDocumentTypes", ["a", "b"]],
  ["NSHumanReadableCopyright", "Copyright © 2003–2024 Apple Inc."],
]);

describe("Info.plist", () => {
  test("XML: top-level strings only, entities decoded, nested keys ignored", () => {
    const entries = xmlPlistStrings(chromePlist);
    expect(entries.get("CFBundleName")).toBe("Chrome");
    expect(entries.get("CFBundleShortVersionString")).toBe("131.0.6778.86");
    expect(entries.get("NSHumanReadableCopyright")).toBe("Copyright 2024 Google LLC. All rights reserved. <&>");
    expect(entries.get("LSMinimumSystemVersion")).toBe("11.0"); // after a <true/>
    expect(entries.has("LSHasLocalizedDisplayName")).toBe(false);
  });

  test("binary: ASCII and UTF-16 strings; integers and arrays skipped", () => {
    const entries = binaryPlistStrings(safariPlist);
    expect(entries.get("CFBundleName")).toBe("Safari");
    expect(entries.get("CFBundleShortVersionString")).toBe("18.1");
    expect(entries.get("NSHumanReadableCopyright")).toBe("Copyright © 2003–2024 Apple Inc.");
    expect(entries.has("CFBundleVersion")).toBe(false);
    expect(entries.has("CFBundleDocumentTypes")).toBe(false);
    expect(plistStrings(safariPlist).get("CFBundleName")).toBe("Safari");
  });

  test("malformed plists give PlistError, never a crash: cut short, bad trailer, wrong top type, too big", () => {
    for (let cut = 0; cut < safariPlist.byteLength; cut += 3) {
      expect(() => binaryPlistStrings(safariPlist.subarray(0, cut))).toThrow(PlistError);
    }
    const badRef = safariPlist.slice();
    badRef[9] = 0x7f; // the dictionary's first key ref points past the object count
    expect(() => binaryPlistStrings(badRef)).toThrow(/refers to object 127/);
    const arrayTop = bplist([["k", "v"]]);
    arrayTop[8] = 0xa1;
    expect(() => binaryPlistStrings(arrayTop)).toThrow(/not a dictionary/);
    expect(() => xmlPlistStrings("<plist><array/></plist>")).toThrow(PlistError);
    expect(() => xmlPlistStrings(`<plist version="1.0"><dict><key>a</key><string>never closed</dict></plist>`)).toThrow(
      /unclosed <string>/,
    );
    expect(() => plistStrings(new Uint8Array((1 << 20) + 1))).toThrow(/larger than/);
  });

  test("appBundleOf takes the outermost app", () => {
    expect(
      appBundleOf(
        "/Applications/Google Chrome.app/Contents/Frameworks/Google Chrome Framework.framework/Versions/131.0.6778.86/Helpers/Google Chrome Helper.app/Contents/MacOS/Google Chrome Helper",
      ),
    ).toBe("/Applications/Google Chrome.app");
    expect(appBundleOf("/usr/bin/curl")).toBeUndefined();
  });
});

describe("darwin browser identity", () => {
  const chromeMain = "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome";
  const helperApp =
    "/Applications/Google Chrome.app/Contents/Frameworks/Google Chrome Framework.framework/Versions/131.0.6778.86/Helpers/Google Chrome Helper.app";
  const chromeHelper = `${helperApp}/Contents/MacOS/Google Chrome Helper`;
  const webkitNetworking =
    "/System/Library/Frameworks/WebKit.framework/Versions/A/XPCServices/com.apple.WebKit.Networking.xpc/Contents/MacOS/com.apple.WebKit.Networking";
  const safari = "/Applications/Safari.app/Contents/MacOS/Safari";
  const firefox = "/Applications/Firefox.app/Contents/MacOS/firefox";

  /** A fake root with the bundles' Info.plist files where macOS keeps them. */
  function fakeRoot(): string {
    const root = tempFolder();
    const put = (path: string, data: string | Uint8Array) => {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), data);
    };
    put("/Applications/Google Chrome.app/Contents/Info.plist", chromePlist);
    put(`${helperApp}/Contents/Info.plist`, helperPlist);
    put("/Applications/Safari.app/Contents/Info.plist", safariPlist);
    put(
      "/Applications/Firefox.app/Contents/Info.plist",
      chromePlist.replace("<string>Chrome</string>", "<string>Firefox</string>").replace("131.0.6778.86", "133.0.3"),
    );
    put("/Applications/Huge.app/Contents/Info.plist", new Uint8Array((1 << 20) + 10));
    put("/Applications/Broken.app/Contents/Info.plist", "<plist><dict><key>CFBundleName</key>");
    return root;
  }

  /** pid -> [exe, ppid, responsible pid]. */
  const table: Record<number, [string, number, number]> = {
    500: [chromeMain, 1, 500],
    510: [chromeHelper, 500, 500],
    650: [safari, 1, 650],
    700: [webkitNetworking, 1, 650],
    701: [webkitNetworking, 1, 0],
    800: [firefox, 1, 800],
    900: ["/usr/bin/curl", 300, 300],
    910: ["/Applications/Huge.app/Contents/MacOS/Huge", 1, 910],
    920: ["/Applications/Broken.app/Contents/MacOS/Broken", 1, 920],
  };
  const processes: ProcessSource = {
    exePath: (pid) => table[pid]?.[0] ?? "",
    ppid: (pid) => table[pid]?.[1] ?? 0,
    responsiblePid: (pid) => table[pid]?.[2] ?? 0,
  };
  const knocker = (pid: number): ProcessInfo => {
    const exe = table[pid]![0];
    return { pid, ppid: table[pid]![1], uid: 501, user: "ada", exe, name: exe.split("/").pop()! };
  };

  test("an Info.plist (or Contents folder) linked elsewhere, or one the knocking user could not read, is not read", async () => {
    const root = fakeRoot();
    rmSync(join(root, "/Applications/Firefox.app/Contents/Info.plist"));
    symlinkSync(
      join(root, "/Applications/Google Chrome.app/Contents/Info.plist"),
      join(root, "/Applications/Firefox.app/Contents/Info.plist"),
    );
    expect((await darwinBrowserIdentifier({ processes, root }).identify(knocker(800))).browser).toBeUndefined();
    rmSync(join(root, "/Applications/Firefox.app/Contents"), { recursive: true });
    symlinkSync(
      join(root, "/Applications/Google Chrome.app/Contents"),
      join(root, "/Applications/Firefox.app/Contents"),
    );
    expect((await darwinBrowserIdentifier({ processes, root }).identify(knocker(800))).browser).toBeUndefined();
    chmodSync(join(root, "/Applications/Safari.app/Contents/Info.plist"), 0o600); // root's alone; the knocker is uid 501
    expect((await darwinBrowserIdentifier({ processes, root }).identify(knocker(650))).browser).toBeUndefined();
  });

  test("Chrome's helper process is named by the outer app and its main process", async () => {
    const identify = darwinBrowserIdentifier({ processes, root: fakeRoot() });
    expect((await identify.identify(knocker(510))).browser).toEqual({
      name: "Chrome",
      version: "131.0.6778.86",
      pid: 500,
      exe: chromeMain,
    });
  });

  test("Safari's WebKit networking service is named by the app responsible for it (binary Info.plist)", async () => {
    const identify = darwinBrowserIdentifier({ processes, root: fakeRoot() });
    expect((await identify.identify(knocker(700))).browser).toEqual({
      name: "Safari",
      version: "18.1",
      pid: 650,
      exe: safari,
    });
  });

  test("without a responsible app, the WebKit service has no browser (it is still named by its process)", async () => {
    const identify = darwinBrowserIdentifier({ processes, root: fakeRoot() });
    const found = await identify.identify(knocker(701));
    expect(found.browser).toBeUndefined();
    expect(found.name).toBe("com.apple.WebKit.Networking");
  });

  test("Firefox knocks from its main process", async () => {
    const identify = darwinBrowserIdentifier({ processes, root: fakeRoot() });
    expect((await identify.identify(knocker(800))).browser).toEqual({
      name: "Firefox",
      version: "133.0.3",
      pid: 800,
      exe: firefox,
    });
  });

  test("a program outside any app, an oversized or a broken Info.plist: no browser, no error", async () => {
    const identify = darwinBrowserIdentifier({ processes, root: fakeRoot() });
    for (const pid of [900, 910, 920]) expect((await identify.identify(knocker(pid))).browser).toBeUndefined();
  });
});
