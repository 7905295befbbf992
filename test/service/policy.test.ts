// The default allow-list, on what the service reads for real browsers' knocking processes (recorded on Linux; macOS paths as Safari's are laid out).
import { describe, expect, test } from "bun:test";
import type { ProcessInfo } from "../../src/protocol/schemas.ts";
import { DEFAULT_BROWSERS, processAllowed } from "../../src/service/policy.ts";

const knocker = (name: string, exe: string, browser?: ProcessInfo["browser"]): ProcessInfo => ({
  pid: 4242,
  ppid: 4200,
  uid: 1000,
  user: "ann",
  name,
  exe,
  ...(browser ? { browser } : {}),
});

describe("the default allow-list", () => {
  test("admits WebKit's network process on Linux, by executable or by the kernel's 15-character name", () => {
    // Recorded from MiniBrowser 2.50.6 (Debian 12): /proc/PID/comm and the /proc/PID/exe link.
    expect(
      processAllowed(
        knocker("WebKitNetworkPr", "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/WebKitNetworkProcess"),
        DEFAULT_BROWSERS,
      ),
    ).toBe(true);
    // A package upgrade replaced the file under a running browser: the link reads "... (deleted)", comm still matches.
    expect(
      processAllowed(
        knocker("WebKitNetworkPr", "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/WebKitNetworkProcess (deleted)"),
        DEFAULT_BROWSERS,
      ),
    ).toBe(true);
    // Fedora and Flatpak put the helpers in libexec: the file name is the same.
    expect(
      processAllowed(knocker("WebKitNetworkPr", "/usr/libexec/webkit2gtk-4.1/WebKitNetworkProcess"), DEFAULT_BROWSERS),
    ).toBe(true);
  });

  test("admits Safari's network process on macOS by its executable", () => {
    const exe =
      "/System/Library/Frameworks/WebKit.framework/Versions/A/XPCServices/com.apple.WebKit.Networking.xpc/Contents/MacOS/com.apple.WebKit.Networking";
    expect(processAllowed(knocker("com.apple.WebKit.Networking", exe), DEFAULT_BROWSERS)).toBe(true);
    // The 16-character p_comm alone is not enough: it is also the name of WebKit's content processes.
    expect(processAllowed(knocker("com.apple.WebKit", ""), DEFAULT_BROWSERS)).toBe(false);
  });

  test("does not admit WebKit's content process or a program that is not a browser", () => {
    expect(
      processAllowed(
        knocker("WebKitWebProces", "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/WebKitWebProcess"),
        DEFAULT_BROWSERS,
      ),
    ).toBe(false);
    expect(processAllowed(knocker("curl", "/usr/bin/curl"), DEFAULT_BROWSERS)).toBe(false);
  });
});
