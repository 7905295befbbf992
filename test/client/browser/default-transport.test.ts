// The transport the browser module picks when none is named, from user agents of real browsers.
import { describe, expect, test } from "bun:test";
import { browserEngine, defaultTransport } from "../../../src/client/browser/index.ts";

const AGENTS = {
  // Recorded here: Debian's chromium headless, firefox-esr, and WebKitGTK's MiniBrowser 2.50.6.
  chromium:
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
  firefox: "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0",
  minibrowser: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/60.5 Safari/605.1.15",
  // As published by the vendors.
  safari:
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.0 Safari/605.1.15",
  edge: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36 Edg/140.0.0.0",
  chromeOnIos:
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/140.0.0.0 Mobile/15E148 Safari/604.1",
  firefoxOnIos:
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/140.0 Mobile/15E148 Safari/605.1.15",
};

describe("defaultTransport", () => {
  test("WebKit that is not Chromium (Safari, WebKitGTK, every iOS browser) is WebKit; Chromium-based browsers are not", () => {
    expect(browserEngine(AGENTS.minibrowser)).toBe("webkit");
    expect(browserEngine(AGENTS.safari)).toBe("webkit");
    expect(browserEngine(AGENTS.chromeOnIos)).toBe("webkit");
    expect(browserEngine(AGENTS.firefoxOnIos)).toBe("webkit");
    expect(browserEngine(AGENTS.chromium)).toBe("chromium");
    expect(browserEngine(AGENTS.edge)).toBe("chromium");
    expect(browserEngine(AGENTS.firefox)).toBe("firefox");
  });

  test("picks a knock that carries the page's Origin in Chromium (fetch) and Firefox (ws); a TLS knock in WebKit, the one engine linked without an origin", () => {
    expect(defaultTransport(AGENTS.minibrowser)).toBe("https");
    expect(defaultTransport(AGENTS.safari)).toBe("https");
    expect(defaultTransport(AGENTS.chromium)).toBe("fetch");
    expect(defaultTransport(AGENTS.edge)).toBe("fetch");
    expect(defaultTransport(AGENTS.firefox)).toBe("ws");
    expect(defaultTransport("")).toBe("fetch");
  });
});
