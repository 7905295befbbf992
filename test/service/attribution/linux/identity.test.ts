// Browser identity from data only, over a crafted procfs and dpkg database (real files), plus the real Chromium and Firefox packages of this machine.
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { browserIdentifier } from "../../../../src/service/attribution/linux/identity.ts";
import { debianPackages, upstreamVersion } from "../../../../src/service/attribution/linux/package-version.ts";
import type { ProcessInfo } from "../../../../src/protocol/schemas.ts";
import { tempFolder } from "../../../helpers.ts";

/** A fake machine: programs under /opt, processes under /proc, dpkg's database under /dpkg. */
function machine() {
  const root = tempFolder();
  const file = (path: string, text: string | Buffer) => {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
    return join(root, path);
  };
  const statuses: string[] = [];
  const pkg = (name: string, version: string, files: string[]) => {
    file(`dpkg/info/${name}.list`, `/.\n${files.join("\n")}\n`);
    statuses.push(
      `Package: ${name.split(":")[0]}\nStatus: install ok installed\nArchitecture: amd64\nVersion: ${version}\n`,
    );
    file("dpkg/status", statuses.join("\n"));
  };
  const proc = (pid: number, ppid: number, exe: string, cmdline: string[]) => {
    file(`proc/${pid}/cmdline`, `${cmdline.join("\0")}\0`);
    file(`proc/${pid}/stat`, `${pid} (${exe.split("/").pop()!.slice(0, 15)}) S ${ppid} ${pid} ${pid} 0`);
    symlinkSync(exe, join(root, `proc/${pid}/exe`));
    return { pid, ppid, uid: 1000, user: "alice", exe, name: exe.split("/").pop()!.slice(0, 15) } satisfies ProcessInfo;
  };
  const identifier = () =>
    browserIdentifier({ procRoot: join(root, "proc"), packages: debianPackages({ root: join(root, "dpkg") }) });
  return { root, file, pkg, proc, identifier };
}

describe("browser identity from data only", () => {
  test("Firefox: application.ini beside the executable", async () => {
    const m = machine();
    const exe = m.file("opt/firefox/firefox", "not a program");
    m.file("opt/firefox/application.ini", "[App]\nVendor=Mozilla\nName=Firefox\nVersion=153.8.0\n");
    const knocker = m.proc(300, 1, exe, [exe]);
    expect((await m.identifier().identify(knocker)).browser).toEqual({
      name: "Mozilla Firefox",
      version: "153.8.0",
      pid: 300,
      exe,
    });
  });

  test("Chromium helper: the main process is named from the package that installed it (epoch and revision dropped)", async () => {
    const m = machine();
    const exe = m.file("usr/lib/chromium/chromium", "not a program");
    m.pkg("chromium", "1:156.0.8078.114-1~deb12u1", [join(m.root, "usr/lib/chromium"), exe]);
    m.pkg("unrelated", "1.0-1", ["/usr/bin/unrelated"]);
    m.proc(200, 1, exe, [exe, "--no-sandbox"]);
    const helper = m.proc(210, 200, exe, [`${exe} --type=utility --utility-sub-type=network.mojom.NetworkService`]);
    expect((await m.identifier().identify(helper)).browser).toEqual({
      name: "Chromium",
      version: "156.0.8078.114",
      pid: 200,
      exe,
    });
  });

  test("a version file beside a Chromium-based binary is used when no package owns it", async () => {
    const m = machine();
    const exe = m.file("opt/brave/brave", "not a program");
    m.file("opt/brave/version", "1.70.117\n");
    const knocker = m.proc(400, 1, exe, [exe]);
    expect((await m.identifier().identify(knocker)).browser).toMatchObject({ name: "brave", version: "1.70.117" });
  });

  test("WebKitGTK: the application above WebKitNetworkProcess is named, with its own version or else the engine's", async () => {
    const m = machine();
    const lib = join(m.root, "usr/lib/x86_64-linux-gnu/webkit2gtk-4.1");
    const network = m.file("usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/WebKitNetworkProcess", "not a program");
    const mini = m.file("usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser", "not a program");
    const epiphany = m.file("usr/bin/epiphany", "not a program");
    m.pkg("libwebkit2gtk-4.1-0:amd64", "2.50.6-1~deb12u2", [lib, network, mini]);
    m.pkg("epiphany-browser", "43.1-2", [epiphany]);
    m.proc(500, 1, mini, [mini, "about:blank"]);
    const fromMini = m.proc(510, 500, network, [network, "7", "41"]);
    m.proc(600, 1, epiphany, [epiphany]);
    const fromEpiphany = m.proc(610, 600, network, [network, "9", "43"]);
    const identify = m.identifier();
    expect((await identify.identify(fromMini)).browser).toEqual({
      name: "MiniBrowser (WebKitGTK)",
      version: "2.50.6",
      pid: 500,
      exe: mini,
    });
    expect((await identify.identify(fromEpiphany)).browser).toEqual({
      name: "Epiphany",
      version: "43.1",
      pid: 600,
      exe: epiphany,
    });
  });

  test("files past their bound are not read, and an executable replaced in place is read again", async () => {
    const m = machine();
    const exe = m.file("opt/firefox/firefox", "not a program");
    m.file("opt/firefox/application.ini", `[App]\nVersion=1.0\n${"#".repeat(70_000)}\n`);
    const knocker = m.proc(700, 1, exe, [exe]);
    const identify = m.identifier();
    expect((await identify.identify(knocker)).browser).toBeUndefined();
    m.file("opt/firefox/application.ini", "[App]\nVendor=Mozilla\nName=Firefox\nVersion=2.0\n");
    expect((await identify.identify(knocker)).browser).toBeUndefined(); // same executable: the cached answer
    utimesSync(exe, new Date(), new Date(Date.now() + 5_000)); // an upgrade changes the executable's mtime
    expect((await identify.identify(knocker)).browser?.version).toBe("2.0");
  });

  test("a FIFO a knocker puts in place of application.ini or a version file is refused, not waited on", async () => {
    const m = machine();
    const exe = m.file("home/mallory/firefox/firefox", "not a program");
    for (const name of ["application.ini", "version", "VERSION"]) {
      const made = Bun.spawnSync(["mkfifo", join(m.root, "home/mallory/firefox", name)]);
      if (made.exitCode !== 0) throw new Error(`mkfifo failed (apt-get install coreutils): ${made.stderr}`);
    }
    const knocker = m.proc(800, 1, exe, [exe]);
    const answer = await Promise.race([
      m.identifier().identify(knocker),
      Bun.sleep(5_000).then(() => "still waiting" as const),
    ]);
    expect(answer).not.toBe("still waiting");
    expect((answer as ProcessInfo).browser).toBeUndefined();
  });

  test("no link is followed out of the install folder, and only files of the knocking user or readable by all are read", async () => {
    const m = machine();
    const secret = m.file("root-only/application.ini", "[App]\nName=Secret\nVersion=13.37\n");
    chmodSync(secret, 0o600); // root's, readable by root alone: the knocker (uid 1000) could not read it
    const linked = m.file("opt/linked/firefox", "x");
    symlinkSync(secret, join(m.root, "opt/linked/application.ini"));
    const viaFolder = m.file("opt/folder/firefox", "x");
    symlinkSync(join(m.root, "root-only"), join(m.root, "opt/folder/browser"));
    const hidden = m.file("opt/hidden/firefox", "x");
    chmodSync(m.file("opt/hidden/application.ini", "[App]\nName=Hidden\nVersion=1.2.3\n"), 0o600);
    const open = m.file("opt/open/firefox", "x");
    m.file("opt/open/application.ini", "[App]\nName=Open\nVersion=4.5.6\n"); // root's and readable by all: the knocker could read it too
    const identify = m.identifier();
    for (const [pid, exe] of [
      [401, linked],
      [402, viaFolder],
      [403, hidden],
    ] as const) {
      expect((await identify.identify(m.proc(pid, 1, exe, [exe]))).browser).toBeUndefined();
    }
    expect((await identify.identify(m.proc(404, 1, open, [open]))).browser).toMatchObject({
      name: "Open",
      version: "4.5.6",
    });
    chmodSync(secret, 0o644);
    expect((await m.identifier().identify(m.proc(405, 1, linked, [linked]))).browser).toBeUndefined(); // a link, even to a readable file
  });

  test("upstreamVersion drops the epoch and the Debian revision only", () => {
    expect(upstreamVersion("1:156.0.8078.114-1~deb12u1")).toBe("156.0.8078.114");
    expect(upstreamVersion("153.8.0esr-1~deb12u1")).toBe("153.8.0esr");
    expect(upstreamVersion("2.50.6")).toBe("2.50.6");
  });

  test("this machine's Chromium and Firefox packages are found by their executables", async () => {
    const packages = debianPackages();
    const chromium = await packages.of("/usr/lib/chromium/chromium");
    const firefox = await packages.of("/usr/lib/firefox-esr/firefox-esr");
    if (!chromium || !firefox)
      throw new Error(
        "Chromium and Firefox ESR must be installed from Debian packages: apt-get install chromium firefox-esr",
      );
    expect(chromium).toMatchObject({ name: "chromium", version: expect.stringMatching(/^\d+\.\d+\.\d+\.\d+$/) });
    expect(firefox).toMatchObject({ name: "firefox-esr", version: expect.stringMatching(/^\d+\.\d+/) });
  });
});
