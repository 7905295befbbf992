// The systemd user unit: checked by systemd-analyze and by parsing it back; install/uninstall/status through the real binary in a temp HOME.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { systemdAutostart, systemdQuote, systemdUnit } from "../../../src/service/autostart/systemd.ts";
import { writeKeyFile } from "../../../src/service/key-file.ts";
import { binary, onCleanup, tempFolder, TEST_USER } from "../../helpers.ts";
import { recordingRunner } from "./recording.ts";

/** Words of an ExecStart line as systemd reads them (systemd.service "Command lines"): quotes, \ escapes, %% and $$. */
function execWords(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const m of line.matchAll(re)) {
    const raw = m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2]!;
    words.push(raw.replace(/%%/g, "%").replace(/\$\$/g, "$"));
  }
  return words;
}

/** Sections of a unit file: name -> key -> values. */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section = "";
  for (const line of text.split("\n")) {
    if (!line.trim() || line.startsWith("#")) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) out[(section = header[1]!)] = {};
    else {
      const [, key, value] = /^(\w+)=(.*)$/.exec(line) ?? [];
      if (!key || !section) throw new Error(`not a unit line: ${line}`);
      (out[section]![key] ??= []).push(value!);
    }
  }
  return out;
}

const tricky = [
  "--server",
  "http://127.0.0.1:7870/a b",
  "--name",
  `quote " back\\slash 100% $HOME 'single' ünïcode`,
  "--skip",
  "",
];

/** systemd-analyze from Debian's systemd package; the test fails (never skips) without it. */
function systemdAnalyze(): string {
  const path = Bun.which("systemd-analyze");
  if (!path) throw new Error("systemd-analyze is missing: apt-get install systemd");
  return path;
}

describe("systemd unit", () => {
  test("systemd-analyze --user verify accepts the unit, with no warning", async () => {
    const folder = tempFolder();
    const runtime = join(folder, "runtime");
    mkdirSync(runtime, { mode: 0o700 });
    const unit = join(folder, "pkipc.service");
    await Bun.write(unit, systemdUnit({ program: binary(), args: ["service", ...tricky] }));
    const child = Bun.spawn([systemdAnalyze(), "--user", "verify", unit], {
      env: { ...process.env, XDG_RUNTIME_DIR: runtime },
      stdout: "pipe",
      stderr: "pipe",
    });
    onCleanup(() => child.kill("SIGKILL"));
    const [code, out, err] = await Promise.all([
      child.exited,
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    expect({ code, output: (out + err).trim() }).toEqual({ code: 0, output: "" });
  });

  test("systemd-analyze notices a broken unit (so the check above can fail)", async () => {
    const folder = tempFolder();
    const runtime = join(folder, "runtime");
    mkdirSync(runtime, { mode: 0o700 });
    const unit = join(folder, "pkipc.service");
    await Bun.write(unit, systemdUnit({ program: join(folder, "no-such-pkipc"), args: ["service"] }));
    const child = Bun.spawn([systemdAnalyze(), "--user", "verify", unit], {
      env: { ...process.env, XDG_RUNTIME_DIR: runtime },
      stdout: "pipe",
      stderr: "pipe",
    });
    onCleanup(() => child.kill("SIGKILL"));
    const [code, err] = await Promise.all([child.exited, new Response(child.stderr).text()]);
    expect(code).not.toBe(0);
    expect(err).toContain("is not executable");
  });

  test("parsed back: restart on failure, wanted by default.target, ExecStart gives every option back unchanged", () => {
    const unit = parseUnit(systemdUnit({ program: "/opt/pkipc dir/pkipc", args: ["service", ...tricky] }));
    expect(unit.Service?.Restart).toEqual(["on-failure"]);
    // not forever: 5 starts in 10 minutes at most, 10 s apart, and none after a refused configuration (exit 64)
    expect(unit.Unit).toMatchObject({ StartLimitIntervalSec: ["600"], StartLimitBurst: ["5"] });
    expect(unit.Service).toMatchObject({ RestartSec: ["10"], RestartPreventExitStatus: ["64"] });
    expect(unit.Install?.WantedBy).toEqual(["default.target"]);
    expect(execWords(unit.Service!.ExecStart![0]!)).toEqual(["/opt/pkipc dir/pkipc", "service", ...tricky]);
  });

  test("a line break in an option is refused with a sentence", () => {
    expect(() => systemdQuote("a\nExecStartPre=/bin/evil")).toThrow(/line break/);
  });

  test("with a user manager: install enables and starts, a second install only starts, uninstall disables and reloads", async () => {
    const config = join(tempFolder(), "config");
    const run = recordingRunner();
    const autostart = systemdAutostart({ home: "/nowhere", configHome: config, uid: 1000, run });
    const entry = { program: "/usr/local/bin/pkipc", args: ["service"] };
    expect((await autostart.install(entry)).at(-1)).toContain("enabled and started");
    await autostart.install(entry);
    expect(await autostart.status()).toMatchObject({ installed: true, running: false });
    await autostart.uninstall();
    expect(run.calls.filter((c) => !c.endsWith("show-environment"))).toEqual([
      "systemctl --user daemon-reload",
      "systemctl --user enable pkipc.service",
      "systemctl --user restart pkipc.service",
      "systemctl --user daemon-reload",
      "systemctl --user enable pkipc.service",
      "systemctl --user start pkipc.service",
      "systemctl --user is-active pkipc.service",
      "systemctl --user disable --now pkipc.service",
      "systemctl --user daemon-reload",
    ]);
    expect(existsSync(join(config, "systemd", "user", "pkipc.service"))).toBe(false);
  });

  test("without a user manager, uninstall also removes the enable link, and only when it points at our unit", async () => {
    const config = join(tempFolder(), "config");
    const autostart = systemdAutostart({
      home: "/nowhere",
      configHome: config,
      uid: 1000,
      run: recordingRunner(() => ({ code: 1, stderr: "Failed to connect to bus" })),
    });
    await autostart.install({ program: "/usr/local/bin/pkipc", args: ["service"] });
    const wants = join(config, "systemd", "user", "default.target.wants");
    mkdirSync(wants);
    symlinkSync(join(config, "systemd", "user", "pkipc.service"), join(wants, "pkipc.service"));
    expect(await autostart.uninstall()).toEqual([
      `removed ${join(wants, "pkipc.service")}`,
      `removed ${join(config, "systemd", "user", "pkipc.service")}`,
    ]);
    expect(readdirSync(wants)).toEqual([]);
  });
});

describe("pkipc service install|uninstall|status (Linux, real binary, temp HOME)", () => {
  /** A temp HOME with an enrolled service's key file where `pkipc service` looks by default. */
  function enrolledHome(): string {
    const home = tempFolder();
    writeKeyFile(
      join(home, ".config", "pkipc", "service-key.json"),
      { serviceId: "abcdefghijkl", key: "A".repeat(43) },
      "http://127.0.0.1:7870/",
    );
    return home;
  }

  async function pkipc(home: string, ...args: string[]) {
    const child = Bun.spawn([binary(), "service", ...args], {
      env: { PATH: process.env.PATH, HOME: home },
      stdout: "pipe",
      stderr: "pipe",
    });
    onCleanup(() => child.kill("SIGKILL"));
    const [code, stdout, stderr] = await Promise.all([
      child.exited,
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    return { code, stdout, stderr };
  }

  test("--dry-run prints the unit and touches nothing", async () => {
    const home = enrolledHome();
    const r = await pkipc(home, "install", "--server", "http://127.0.0.1:7870", "--users", TEST_USER, "--dry-run");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`would write ${home}/.config/systemd/user/pkipc.service:`);
    expect(r.stdout).toContain(`ExecStart="${binary()}" "service" "--server" "http://127.0.0.1:7870"`);
    expect(r.stdout).toContain("would run: systemctl --user enable pkipc.service");
    expect(readdirSync(home)).toEqual([".config"]);
    expect(readdirSync(join(home, ".config"))).toEqual(["pkipc"]);
  });

  test("enrolling is not install's: --enroll is refused naming the step that does it, --force and --name are unknown, and help lists none of them", async () => {
    const home = enrolledHome();
    const enroll = await pkipc(home, "install", "--enroll", "token", "--users", TEST_USER, "--dry-run");
    expect(enroll.code).toBe(64);
    expect(enroll.stderr).toContain("enroll once with `pkipc service --enroll TOKEN`, then install without it");
    for (const option of ["--force", "--name=laptop"]) {
      const r = await pkipc(home, "install", option, "--users", TEST_USER, "--dry-run");
      expect(r.code, option).toBe(64);
      expect(r.stderr).toContain(`unknown option ${option.split("=")[0]}`);
    }
    const help = await pkipc(home, "install", "--help");
    expect(help.stdout).toContain("--dry-run");
    expect(help.stdout).not.toMatch(/--enroll|--force|--name/);
  });

  test("install twice gives the same file; status says installed; uninstall removes it; bad options are refused first", async () => {
    const home = enrolledHome();
    const unit = join(home, ".config", "systemd", "user", "pkipc.service");
    const first = await pkipc(
      home,
      "install",
      "--server",
      "http://127.0.0.1:7870",
      "--skip",
      "7871",
      "--users",
      TEST_USER,
    );
    expect(first).toMatchObject({ code: 0, stderr: "" });
    expect(first.stdout).toContain(`wrote ${unit}`);
    const text = readFileSync(unit, "utf8");
    expect(execWords(parseUnit(text).Service!.ExecStart![0]!)).toEqual([
      binary(),
      "service",
      "--server",
      "http://127.0.0.1:7870",
      "--skip",
      "7871",
      "--users",
      TEST_USER,
    ]);
    // No user manager answers in this container: install says what to run instead.
    expect(first.stdout).toContain("systemctl --user daemon-reload && systemctl --user enable --now pkipc.service");
    const second = await pkipc(
      home,
      "install",
      "--server",
      "http://127.0.0.1:7870",
      "--skip",
      "7871",
      "--users",
      TEST_USER,
    );
    expect(second.stdout).toContain("already installed with these options");
    expect(readFileSync(unit, "utf8")).toBe(text);
    expect((await pkipc(home, "status")).stdout).toContain(`installed at ${unit}`);
    expect((await pkipc(home, "uninstall")).stdout).toContain(`removed ${unit}`);
    expect(existsSync(unit)).toBe(false);
    expect((await pkipc(home, "status")).stdout).toContain("not installed");
    const bad = await pkipc(home, "install", "--server", "ftp://x");
    expect(bad.code).toBe(64);
    expect(bad.stderr).toStartWith("pkipc service install: ");
    expect(existsSync(unit)).toBe(false);
  });

  // What the service refuses at start, install refuses in the same words: the unit would only fail at every login.
  test.each([
    [
      "a relative --key-dir",
      ["--allow-instructions", "key", "--key-dir", "keys"],
      /--key-dir must be an absolute path/,
      true,
    ],
    ["a missing key file", ["--key-file", "/nonexistent/key.json"], /no key file at \/nonexistent\/key\.json/, true],
    [
      "a key from another server",
      ["--server", "http://127.0.0.1:7999"],
      /was enrolled with http:\/\/127\.0\.0\.1:7870\/, not http:\/\/127\.0\.0\.1:7999\//,
      true,
    ],
    ["root without --users", [], /a service running as root links only the users it is told/, false],
  ] as const)(
    "install refuses %s with the service's own sentence, and writes nothing",
    async (_, args, sentence, withUsers) => {
      if (!withUsers && process.getuid?.() !== 0)
        throw new Error("this case needs the tests to run as root (as .ci/run does)");
      const home = enrolledHome();
      const users = withUsers ? ["--users", TEST_USER] : [];
      const service = await pkipc(home, ...args, ...users);
      const install = await pkipc(home, "install", ...args, ...users);
      expect(service.code).toBe(64);
      expect(install.code).toBe(64);
      expect(service.stderr).toMatch(sentence);
      expect(install.stderr.replace(/^pkipc service install: /, "")).toBe(
        service.stderr.replace(/^pkipc service: /, ""),
      );
      expect(existsSync(join(home, ".config", "systemd"))).toBe(false);
    },
  );

  test("--confirm desktop serving other users' programs (a root service with --users) is refused at start and by install, in the same words", async () => {
    const home = enrolledHome();
    const args = ["--confirm", "desktop", "--users", `${TEST_USER},65534`];
    const service = await pkipc(home, ...args);
    const install = await pkipc(home, "install", ...args);
    expect(service.code).toBe(64);
    expect(install.code).toBe(64);
    expect(service.stderr).toBe(
      `pkipc service: --confirm desktop asks on the desktop of the user this service runs as (uid ${TEST_USER}), but --users also serves uid 65534: run one service per user instead (each user runs pkipc service install), or use --confirm log\n`,
    );
    expect(install.stderr.replace(/^pkipc service install: /, "")).toBe(service.stderr.replace(/^pkipc service: /, ""));
    expect(existsSync(join(home, ".config", "systemd"))).toBe(false);
    // serving only its own user it passes this check (and stops at the next one: the key is another server's)
    const own = await pkipc(home, "--confirm", "desktop", "--users", TEST_USER, "--server", "http://127.0.0.1:7999");
    expect(own.code).toBe(64);
    expect(own.stderr).toContain("was enrolled with http://127.0.0.1:7870/, not http://127.0.0.1:7999/");
  });
});
