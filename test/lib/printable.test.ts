// Text logs and prompts show control and bidi characters from process names escaped, never raw.
import { describe, expect, test } from "bun:test";
import { createLogger } from "../../src/lib/log.ts";
import { printable } from "../../src/lib/printable.ts";

const SPOOF = "\x1b[2J\x1b]0;title\x07fire\u202efox\x9b31m\x7f\u2066x\u2069\n[service] report -> linked";

describe("printable", () => {
  test("C0, DEL, C1 and bidi controls are shown as escapes; other text, paths and non-Latin names stay as they are", () => {
    expect(printable(SPOOF)).toBe(
      "\\x1b[2J\\x1b]0;title\\x07fire\\u202efox\\x9b31m\\x7f\\u2066x\\u2069\\x0a[service] report -> linked",
    );
    expect(printable("/usr/lib/chromium/chromium Brötchen 浏览器 C:\\Program Files")).toBe(
      "/usr/lib/chromium/chromium Brötchen 浏览器 C:\\Program Files",
    );
  });

  test("a text log line holds no control character from a field or the message, and stays one line", () => {
    const lines: string[] = [];
    const log = createLogger({ write: (line) => lines.push(line) });
    log.info(`knocks ignored: ${SPOOF}`, { process: SPOOF, exe: `/tmp/${SPOOF}`, args: { message: SPOOF } });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(lines[0]).toContain("fire\\u202efox");
  });
});
