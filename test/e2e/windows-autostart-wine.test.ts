// `pkipc service install|status|uninstall` of the Windows build under Wine: the HKCU Run value as reg.exe shows it, other values untouched.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { findFreePort } from "../../src/lib/ports.ts";
import { writeKeyFile } from "../../src/service/key-file.ts";
import { tempFolder } from "../helpers.ts";
import { holdWinePrefix, runWine, windowsBinary, winePath, wineTools } from "../wine.ts";

const RUN_KEY = "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run";
/** Another program's logon entry, which install and uninstall must leave as it is. */
const OTHER = { name: "pkipc-test-other", data: '"C:\\Program Files\\Other App\\other.exe" --minimized' };

/** The data of value `name` in `reg query` output (read here, not with the product's parser), or undefined. */
function regValue(stdout: string, name: string): string | undefined {
  for (const line of stdout.split(/\r?\n/)) {
    const m = /^\s+(\S+)\s+REG_SZ\s{4}(.*)$/.exec(line);
    if (m && m[1]!.toLowerCase() === name.toLowerCase()) return m[2];
  }
  return undefined;
}

/** `reg ARGS` in the tests' Wine prefix. */
const reg = (...args: string[]) => runWine("reg", args, 60_000);

async function runKey(): Promise<string> {
  const r = await reg("query", RUN_KEY);
  expect(r.code, `reg query ${RUN_KEY}: ${r.stdout}${r.stderr}`).toBe(0);
  return r.stdout;
}

describe("Windows autostart under Wine", () => {
  test("install writes the Run value pkipc (dry run writes nothing, twice is the same), status sees it, uninstall removes only it", async () => {
    wineTools(); // fails here, with the apt-get line, when Wine or mingw is missing
    const exe = await windowsBinary();
    await holdWinePrefix(); // one wineserver for the whole test: each run then takes well under a second
    const port = findFreePort(); // install needs no server: nothing listens here
    // a space in one path, and a trailing backslash in another, as CommandLineToArgvW must get them back
    // install runs the service's start checks: the key file must be there (enrolled with this server)
    const keyFile = join(tempFolder(), "pkipc test", "key.json");
    writeKeyFile(keyFile, { serviceId: "abcdefghijkl", key: "A".repeat(43) }, `http://127.0.0.1:${port}/`);
    const options = [
      "--server",
      `http://127.0.0.1:${port}`,
      "--key-file",
      winePath(keyFile),
      "--key-dir",
      "C:\\pkipc keys\\",
    ];
    const expected = `${winePath(exe)} service --server http://127.0.0.1:${port} --key-file "${winePath(keyFile)}" --key-dir "C:\\pkipc keys\\\\"`;
    const pkipc = async (...args: string[]) => {
      const r = await runWine(exe, args, 60_000);
      // status answers as systemctl status does: 3 installed but not running, 4 not installed
      const expectedCode = args[1] !== "status" ? 0 : regValue(await runKey(), "pkipc") === undefined ? 4 : 3;
      expect(r.code, `pkipc.exe ${args.join(" ")}: ${r.stdout}${r.stderr}`).toBe(expectedCode);
      return r.stdout;
    };

    // a value left by an earlier, interrupted run would make the dry run's check meaningless
    await reg("delete", RUN_KEY, "/v", "pkipc", "/f");
    const added = await reg("add", RUN_KEY, "/v", OTHER.name, "/t", "REG_SZ", "/d", OTHER.data, "/f");
    expect(added.code, added.stdout + added.stderr).toBe(0);
    try {
      expect(regValue(await runKey(), "pkipc")).toBeUndefined();
      expect(regValue(await runKey(), OTHER.name)).toBe(OTHER.data);

      // 1. the dry run prints the value it would write and writes nothing
      const dry = await pkipc("service", "install", ...options, "--dry-run");
      const lines = dry.split(/\r?\n/);
      expect(lines).toContain(`would write ${RUN_KEY}\\pkipc:`);
      expect(lines).toContain(expected);
      expect(regValue(await runKey(), "pkipc")).toBeUndefined();

      // 2. install writes the value: the exe's absolute Windows path, then `service` and the options, quoted
      const installed = await pkipc("service", "install", ...options);
      expect(installed).toContain(`wrote ${RUN_KEY}\\pkipc`);
      const shown = await reg("query", RUN_KEY, "/v", "pkipc");
      expect(shown.code, shown.stdout + shown.stderr).toBe(0);
      expect(regValue(shown.stdout, "pkipc")).toBe(expected);
      expect(regValue(await runKey(), OTHER.name)).toBe(OTHER.data);

      // 5. install again: same value, and it says so
      const again = await pkipc("service", "install", ...options);
      expect(again).toContain("already installed");
      expect(regValue(await runKey(), "pkipc")).toBe(expected);

      // 3. status sees the value
      const status = await pkipc("service", "status");
      expect(status).toContain(`pkipc service: not running; installed at ${RUN_KEY}\\pkipc`);

      // 4. uninstall removes exactly that value
      const removed = await pkipc("service", "uninstall");
      expect(removed).toContain(`removed ${RUN_KEY}\\pkipc`);
      const gone = await reg("query", RUN_KEY, "/v", "pkipc");
      expect(gone.code, gone.stdout).not.toBe(0);
      const after = await runKey();
      expect(regValue(after, "pkipc")).toBeUndefined();
      expect(regValue(after, OTHER.name)).toBe(OTHER.data);
      expect(await pkipc("service", "status")).toContain("pkipc service: not running; not installed");
    } finally {
      await reg("delete", RUN_KEY, "/v", "pkipc", "/f");
      await reg("delete", RUN_KEY, "/v", OTHER.name, "/f");
    }
  });
});
