// One identification per knocking process: the knocks of a burst warm it, the report reuses the answer, for a bounded time.
import { describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { identifyOnce } from "../../../src/service/attribution/identify-once.ts";
import { browserIdentifier } from "../../../src/service/attribution/linux/identity.ts";
import { debianPackages } from "../../../src/service/attribution/linux/package-version.ts";
import type { ProcessInfo } from "../../../src/protocol/schemas.ts";
import { tempFolder } from "../../helpers.ts";

/** A Chromium main process (200) and its network helper (210) in a crafted procfs. */
function chromium() {
  const root = tempFolder();
  const file = (path: string, text: string) => {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
    return join(root, path);
  };
  const exe = file("usr/lib/chromium/chromium", "not a program");
  file("dpkg/info/chromium.list", `/.\n${join(root, "usr/lib/chromium")}\n${exe}\n`);
  file("dpkg/status", "Package: chromium\nStatus: install ok installed\nArchitecture: amd64\nVersion: 156.0.1-1\n");
  const proc = (pid: number, ppid: number, cmdline: string) => {
    file(`proc/${pid}/cmdline`, `${cmdline}\0`);
    file(`proc/${pid}/stat`, `${pid} (chromium) S ${ppid} ${pid} ${pid} 0`);
    symlinkSync(exe, join(root, `proc/${pid}/exe`));
  };
  proc(200, 1, exe);
  proc(210, 200, `${exe} --type=utility --utility-sub-type=network.mojom.NetworkService`);
  const helper: ProcessInfo = { pid: 210, ppid: 200, uid: 1000, user: "alice", exe, name: "chromium" };
  /** Makes 210 look like a browser's main process from now on: a new walk names 210 itself. */
  const detach = () => writeFileSync(join(root, "proc/210/cmdline"), `${exe}\0`);
  const identifier = browserIdentifier({
    procRoot: join(root, "proc"),
    packages: debianPackages({ root: join(root, "dpkg") }),
  });
  return { helper, detach, identifier };
}

describe("identifyOnce", () => {
  test("the report takes the answer its burst's first knock started, until reuseMs has passed", async () => {
    const m = chromium();
    let clock = 0;
    const identity = identifyOnce(m.identifier, { reuseMs: 5000, now: () => clock });
    for (let knock = 0; knock < 12; knock++) identity.warm(m.helper);
    m.detach(); // a walk started now would see another process tree
    expect((await identity.identify(m.helper)).browser?.pid).toBe(200);
    clock = 5001;
    expect((await identity.identify(m.helper)).browser?.pid).toBe(210);
  });

  test("another process (a new pid, or the same pid running another program) is identified afresh", async () => {
    const m = chromium();
    const identity = identifyOnce(m.identifier, { now: () => 0 });
    identity.warm(m.helper);
    m.detach();
    expect((await identity.identify({ ...m.helper, name: "chromium2" })).browser?.pid).toBe(210);
    expect((await identity.identify(m.helper)).browser?.pid).toBe(200);
  });

  test("past maxProcesses the oldest answer is forgotten", async () => {
    const m = chromium();
    const identity = identifyOnce(m.identifier, { maxProcesses: 2, now: () => 0 });
    identity.warm(m.helper);
    identity.warm({ ...m.helper, pid: 1 });
    identity.warm({ ...m.helper, pid: 2 });
    m.detach();
    expect((await identity.identify(m.helper)).browser?.pid).toBe(210);
  });

  test("an identifier that fails: warm swallows it, identify hands the failure to the report", async () => {
    let calls = 0;
    const failing = {
      warm() {},
      identify: async () => {
        calls++;
        throw new Error("cannot read /proc");
      },
    };
    const identity = identifyOnce(failing, { now: () => 0 });
    const process: ProcessInfo = { pid: 5, ppid: 1, uid: 1000, user: "alice", exe: "/bin/x", name: "x" };
    identity.warm(process);
    await Bun.sleep(1);
    await expect(identity.identify(process)).rejects.toThrow("cannot read /proc");
    expect(calls).toBe(1);
  });
});
