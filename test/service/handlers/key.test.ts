// The key built-in: a private file per key under the key folder, written atomically, never outside it, never through a link, the secret never logged.
import { describe, expect, test } from "bun:test";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../../src/lib/log.ts";
import { keyFingerprint, keyHandler, originFolder } from "../../../src/service/handlers/key.ts";
import { tempFolder } from "../../helpers.ts";

const knocker = { pid: 1, ppid: 0, uid: 0, user: "ana", exe: "/usr/bin/firefox", name: "firefox" };

function setup() {
  const lines: string[] = [];
  const dir = join(tempFolder(), "keys");
  const handler = keyHandler({ dir });
  const log = createLogger({ level: "debug", write: (line) => lines.push(line) });
  const store = (args: Record<string, string>, origin = "https://saas.example") =>
    handler.handle(
      { id: "k", name: "key", args },
      { log, process: knocker, linkId: "l", origin, signal: new AbortController().signal },
    );
  return { dir, lines, store };
}

describe("key", () => {
  test("writes the secret to DIR/ORIGIN/NAME with mode 0600 in folders of mode 0700, answers the path relative to DIR and the fingerprint, and never logs the secret", async () => {
    const { dir: keys, lines, store } = setup();
    const dir = join(keys, "https_saas.example");
    const answer = await store({ name: "acme.api_key-1", secret: "sk_live_Very-Secret" });
    expect(answer).toEqual({
      ok: true,
      result: JSON.stringify({
        path: "https_saas.example/acme.api_key-1",
        sha256: keyFingerprint("sk_live_Very-Secret"),
      }),
    });
    expect(readFileSync(join(dir, "acme.api_key-1"), "utf8")).toBe("sk_live_Very-Secret");
    expect(statSync(join(dir, "acme.api_key-1")).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(keys).mode & 0o777).toBe(0o700);
    expect(lines.join("\n")).toContain(keyFingerprint("sk_live_Very-Secret"));
    expect(lines.join("\n")).not.toContain("Very-Secret");
    // a new secret under the same name replaces the old one whole, and leaves no temporary file
    expect((await store({ name: "acme.api_key-1", secret: "rotated" })).ok).toBe(true);
    expect(readFileSync(join(dir, "acme.api_key-1"), "utf8")).toBe("rotated");
    expect([...new Bun.Glob("*").scanSync(dir)]).toEqual(["acme.api_key-1"]);
  });

  test("names that could leave the folder, hide, or be ambiguous are refused and nothing is written", async () => {
    const { dir, store } = setup();
    for (const name of [
      "..",
      "../escape",
      "a/b",
      "/etc/passwd",
      ".hidden",
      "a..b",
      "",
      "x".repeat(65),
      "-flag",
      "ke y",
      "é",
    ]) {
      const answer = await store({ name, secret: "s" });
      expect(answer.ok).toBe(false);
      expect(answer.result).toContain("the key's name must be");
    }
    expect([...new Bun.Glob("**").scanSync({ cwd: dir, dot: true, onlyFiles: false })]).toEqual([]);
    expect(existsSync(join(dir, "..", "escape"))).toBe(false);
  });

  test("a symbolic link planted at the key's path is neither followed nor replaced", async () => {
    const { dir: keys, store } = setup();
    const dir = join(keys, "https_saas.example");
    mkdirSync(dir, { mode: 0o700 });
    const target = join(tempFolder(), "victim");
    writeFileSync(target, "original");
    symlinkSync(target, join(dir, "planted"));
    const answer = await store({ name: "planted", secret: "attacker-wants-this-written" });
    expect(answer).toEqual({
      ok: false,
      result:
        "the key https_saas.example/planted was not written: https_saas.example/planted exists and is not a regular file; it was not replaced",
    });
    expect(readFileSync(target, "utf8")).toBe("original");
    expect(readlinkSync(join(dir, "planted"))).toBe(target);
  });

  test("origin folders: readable, distinct for distinct origins, never a path trick; long origins hashed", () => {
    expect(originFolder("https://saas.example:8443")).toBe("https_saas.example_8443");
    expect(originFolder("http://[::1]:80")).toBe("http_%5B__1%5D_80");
    expect(originFolder(undefined)).toBe("no-origin");
    const origins = [
      "https://a_b.example",
      "https://a:1",
      "https://a%3A1",
      "https://A.example",
      "https://a.example",
      "http://a.example",
      "https://../..",
      "https://a.example%2F..%2F",
    ];
    const names = origins.map(originFolder);
    expect(new Set(names).size).toBe(origins.length);
    for (const name of names) expect(name).toMatch(/^[a-z][A-Za-z0-9.%_-]*$/);
    expect(originFolder(`https://${"x".repeat(250)}`)).toMatch(/^sha256-[0-9a-f]{64}$/);
  });

  test("missing or extra args are refused with one sentence", async () => {
    const { store } = setup();
    expect(await store({ name: "a" })).toEqual({ ok: false, result: "the key's secret is missing or empty" });
    expect(await store({ name: "a", secret: "s", mode: "777" })).toEqual({
      ok: false,
      result: "key takes the args name and secret only, not mode",
    });
  });

  test("a key folder others may enter, a relative one, or a link is refused at start", () => {
    const base = tempFolder();
    const open = join(base, "open");
    mkdirSync(open, { mode: 0o755 });
    chmodSync(open, 0o755);
    expect(() => keyHandler({ dir: open })).toThrow(
      `the key folder ${open} may be entered by others (mode 755); run chmod 700 ${open}`,
    );
    expect(() => keyHandler({ dir: "keys" })).toThrow('the key folder must be an absolute path, not "keys"');
    const real = join(base, "real");
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, join(base, "link"));
    expect(() => keyHandler({ dir: join(base, "link") })).toThrow("is not a folder (a symbolic link is refused too)");
    expect(lstatSync(join(base, "link")).isSymbolicLink()).toBe(true);
  });
});
