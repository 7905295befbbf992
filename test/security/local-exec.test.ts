// Issue 13, findings 1 and 3: another user's program, named like a browser under a helper-like parent, knocks a root service: nothing it names runs, and a root service links only the users it is told.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backendApi, BUN, onCleanup, ROOT, runPkipc, serverProcess, serviceProcess, tempFolder } from "../helpers.ts";

const OTHER_USER = "pkipc-test";
let folder = "";
let firefox = "";
let other = { uid: 0, gid: 0 };

/** The unprivileged user the hostile program runs as: a system user, created once (idempotent). */
function ensureOtherUser(): { uid: number; gid: number } {
  const look = () => Bun.spawnSync(["id", "-u", OTHER_USER]).stdout.toString().trim();
  if (!look()) {
    const made = Bun.spawnSync(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OTHER_USER]);
    // 9: created meanwhile by another run
    if (made.exitCode !== 0 && made.exitCode !== 9)
      throw new Error(`useradd ${OTHER_USER} failed (tests run as root; apt-get install passwd): ${made.stderr}`);
  }
  const uid = Number(look());
  const gid = Number(Bun.spawnSync(["id", "-g", OTHER_USER]).stdout.toString().trim());
  if (!Number.isInteger(uid) || uid === 0) throw new Error(`no usable uid for ${OTHER_USER}`);
  return { uid, gid };
}

/** Markers the fake writes when anything runs it with --version. */
const markers = () => readdirSync(folder).filter((n) => n.startsWith("executed-by-uid-"));

/** Runs the fake browser as the other user: a `firefox` parent whose `--type=utility` child knocks `tuples`. */
async function knockAsOtherUser(tuples: number[][], origin: string) {
  const child = Bun.spawn(
    [
      "setpriv",
      `--reuid=${other.uid}`,
      `--regid=${other.gid}`,
      "--clear-groups",
      "--",
      firefox,
      "parent",
      JSON.stringify(tuples),
      origin,
    ],
    {
      cwd: folder,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: folder },
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  onCleanup(async () => {
    if (child.exitCode === null) child.kill("SIGKILL");
    await child.exited;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const [out, err, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`the fake browser failed (exit ${code}): ${err}`);
  const result = JSON.parse(out.trim().split("\n").pop()!) as { pid: number; uid: number; knocked: number };
  expect(result.uid).toBe(other.uid);
  return result;
}

beforeAll(async () => {
  if (process.getuid?.() !== 0)
    throw new Error("this test plays a root service against another user's program: run it as root");
  other = ensureOtherUser();
  // The hostile program: owned by the other user, in a folder of its own that the other user controls.
  folder = mkdtempSync(join(tmpdir(), "pkipc-local-exec-"));
  firefox = join(folder, "firefox");
  const built = Bun.spawnSync(
    [BUN, "build", "--compile", join(ROOT, "test/fixtures/fake-browser.ts"), "--outfile", firefox],
    { cwd: ROOT },
  );
  if (built.exitCode !== 0) throw new Error(`could not compile the fake browser: ${built.stderr}`);
  chmodSync(folder, 0o755);
  chownSync(folder, other.uid, other.gid);
  chownSync(firefox, other.uid, other.gid);
});

afterAll(() => {
  if (folder) rmSync(folder, { recursive: true, force: true });
});

describe("a root service and another user's program named like a browser", () => {
  test("with --users naming only root, its knocks are dropped unlooked-at: nothing runs, nothing links", async () => {
    const server = await serverProcess();
    const service = await serviceProcess(server.url, ["--users", "root"]);
    const api = backendApi(server.url);
    const offer = await api.createSession();
    await knockAsOtherUser(offer.tuples, new URL(server.url).origin);
    await service.log.waitFor(/knock dropped|report ->/);
    // past the idle gap: a burst that was going to be reported has been
    await Bun.sleep(1500);
    expect(markers()).toEqual([]);
    expect(service.log.lines.filter((l) => /report ->/.test(l))).toEqual([]);
    expect((await api.status(offer.id)).state).toBe("pending");
    expect(
      service.log.lines.some((l) =>
        new RegExp(`knock dropped: the process belongs to a user this service does not serve.*user=${OTHER_USER}`).test(
          l,
        ),
      ),
    ).toBe(true);
  });

  test("even for a user it serves, naming the browser never executes the program or its parent", async () => {
    const server = await serverProcess();
    const service = await serviceProcess(server.url, ["--users", OTHER_USER]);
    const api = backendApi(server.url);
    const offer = await api.createSession();
    await knockAsOtherUser(offer.tuples, new URL(server.url).origin);
    // The report waits for the browser's identity, so once it links, identification is over.
    await service.log.waitFor(/report -> linked/, 15_000);
    const status = await api.status(offer.id);
    expect(status.process?.user).toBe(OTHER_USER);
    expect(status.process?.name).toBe("firefox");
    // The fake sits in no package and beside no application.ini: no version is claimed for it.
    expect(status.process?.browser).toBeUndefined();
    expect(markers()).toEqual([]);
    expect(existsSync(firefox)).toBe(true);
  });
});

describe("--users", () => {
  test("a service running as root without --users refuses to start, in one sentence", async () => {
    const run = await runPkipc(
      ["service", "--server", "http://127.0.0.1:9", "--key-file", join(tempFolder(), "key.json")],
      15_000,
    );
    expect(run.code).toBe(64);
    expect(run.stderr).toMatch(/running as root .*--users/);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
  });

  test("an unknown user name is refused at start", async () => {
    const run = await runPkipc(["service", "--server", "http://127.0.0.1:9", "--users", "no-such-user-here"], 15_000);
    expect(run.code).toBe(64);
    expect(run.stderr).toMatch(/there is no user "no-such-user-here"/);
  });
});
