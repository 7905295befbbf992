// Issue 19, items 7, 8 and 10: a local user (nobody) who can write a folder on the way to a handler program or the key folder, a fake browser whose application.ini points at a root-only file, and two SaaS tenants storing the same key name, against a root service end to end.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClientResult } from "../../src/client/index.ts";
import { writeKeyFile } from "../../src/service/key-file.ts";
import { adminApiKey, backendApi, BUN, onCleanup, ROOT, runPkipc, serverProcess, serviceProcess } from "../helpers.ts";

const NOBODY = 65534;
let base = "";

/** Runs a shell script as nobody (uid and gid 65534, no other groups): the local attacker. */
function asNobody(script: string): void {
  const run = Bun.spawnSync(
    ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "--", "/bin/sh", "-c", script],
    { cwd: "/" },
  );
  if (run.exitCode !== 0) throw new Error(`as nobody: ${script} failed (exit ${run.exitCode}): ${run.stderr}`);
}

/** A folder under the test's base with an owner, group and mode (chmod after mkdir: the umask narrows mkdir's mode). */
function folder(path: string, mode: number, uid = 0, gid = 0): string {
  mkdirSync(path, { recursive: true });
  chownSync(path, uid, gid);
  chmodSync(path, mode);
  return path;
}

/** `pkipc client` linking this computer and sending one instruction; the SaaS backend's API key is the server's unless `apiKey` says. */
async function client(url: string, instruction: string, apiKey?: string): Promise<ClientResult> {
  const run = await runPkipc(
    ["client", "--server", url, "--json", "--timeout", "30s", "--instruction", instruction],
    45_000,
    apiKey ? { PKIPC_API_KEY: apiKey } : {},
  );
  try {
    return JSON.parse(run.stdout) as ClientResult;
  } catch {
    throw new Error(`client printed no JSON (exit ${run.code}): ${run.stdout}${run.stderr}`);
  }
}

beforeAll(() => {
  if (process.getuid?.() !== 0)
    throw new Error("this test plays a root service against the local user nobody: run it as root");
  if (Bun.spawnSync(["which", "setpriv"]).exitCode !== 0)
    throw new Error("setpriv is missing: apt-get install util-linux");
  // nobody must reach the folders below the base, as a deploy folder under /srv or /opt would be reachable
  base = folder(mkdtempSync(join(tmpdir(), "pkipc-local-files-")), 0o755);
});

afterAll(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

describe("a root service and a folder nobody may write", () => {
  test("a handler program swapped by nobody in a group-writable deploy folder is refused, naming the folder, and never runs; such a folder is refused at start", async () => {
    const deploy = folder(join(base, "deploy"), 0o755);
    const program = join(deploy, "store-key");
    writeFileSync(program, "#!/bin/sh\necho stored\n", { mode: 0o755 });
    chmodSync(program, 0o755);
    const marker = join(folder(join(base, "markers"), 0o755), "ran-as-root");
    const server = await serverProcess();
    const service = await serviceProcess(server.url, ["--handler", `store-key=${program}`]);
    expect((await client(server.url, "store-key")).instructions[0]).toMatchObject({ state: "done", result: "stored" });

    // A deploy tool later opens the folder to its group, nogroup, where nobody is.
    chownSync(deploy, 0, NOBODY);
    chmodSync(deploy, 0o775);
    asNobody(
      `printf '#!/bin/sh\\ntouch ${marker}; echo owned\\n' > ${deploy}/new && chmod 755 ${deploy}/new && mv -f ${deploy}/new ${program}`,
    );
    const swapped = await client(server.url, "store-key");
    expect(swapped.instructions[0]).toMatchObject({
      state: "refused",
      result: `program ${program} was not run: the folder ${deploy} may be changed by other users (mode 775); run chmod go-w ${deploy}`,
    });
    expect(existsSync(marker)).toBe(false);
    await service.log.waitFor(/handler program refused name=store-key/);

    // Started with that folder, the service refuses at once with one sentence naming it.
    const run = await runPkipc(
      ["service", "--server", server.url, "--users", "0", "--handler", `store-key=${program}`],
      15_000,
    );
    expect(run.code).toBe(64);
    expect(run.stderr.trim()).toBe(
      `pkipc service: handler "store-key": the folder ${deploy} may be changed by other users (mode 775); run chmod go-w ${deploy}`,
    );
    expect(existsSync(marker)).toBe(false);
  });

  test("nobody, owning a folder above --key-dir, swaps keys/ for a link to a root-only folder: no key lands there; such a folder is refused at start", async () => {
    const home = folder(join(base, "home"), 0o755);
    const keys = join(home, "keys");
    const vault = folder(join(base, "root-only-vault"), 0o700);
    const server = await serverProcess();
    await serviceProcess(server.url, ["--allow-instructions", "key", "--key-dir", keys]);
    expect((await client(server.url, "key:name=first,secret=before-the-swap")).instructions[0]).toMatchObject({
      state: "done",
    });

    // The folder above becomes nobody's (a home handed over, a deploy user's folder): he moves keys/ away and links it to the vault.
    chownSync(home, NOBODY, NOBODY);
    asNobody(`mv ${keys} ${home}/old-keys && ln -s ${vault} ${keys}`);
    const answer = (await client(server.url, "key:name=planted,secret=attacker-chose-where")).instructions[0];
    expect(answer).toMatchObject({ state: "refused" });
    expect(answer?.result).toContain("was not written");
    expect(answer?.result).not.toContain(base); // no path outside the key folder in the answer (the log has it)
    expect(readdirSync(vault, { recursive: true })).toEqual([]);

    const keyFile = join(folder(join(base, "service-key"), 0o700), "key.json");
    writeKeyFile(keyFile, { serviceId: "abcdefghijkl", key: "A".repeat(43) }, server.url);
    const run = await runPkipc(
      [
        "service",
        "--server",
        server.url,
        "--key-file",
        keyFile,
        "--users",
        "0",
        "--allow-instructions",
        "key",
        "--key-dir",
        keys,
      ],
      15_000,
    );
    expect(run.code).toBe(64);
    expect(run.stderr.trim()).toBe(
      `pkipc service: the key folder ${keys} is refused: the folder ${home} belongs to uid ${NOBODY}, not root: other users could replace what is inside it`,
    );
    expect(readdirSync(vault, { recursive: true })).toEqual([]);
  });
});

describe("a fake browser's application.ini", () => {
  let browserFolder = "";
  let firefox = "";

  beforeAll(async () => {
    browserFolder = folder(join(base, "fake-firefox"), 0o755, NOBODY, NOBODY);
    firefox = join(browserFolder, "firefox");
    const built = Bun.spawnSync(
      [BUN, "build", "--compile", join(ROOT, "test/fixtures/fake-browser.ts"), "--outfile", firefox],
      { cwd: ROOT },
    );
    if (built.exitCode !== 0) throw new Error(`could not compile the fake browser: ${built.stderr}`);
    chownSync(firefox, NOBODY, NOBODY);
  });

  test("a link to a root-only file is not read: its Name= and Version= never reach the SaaS", async () => {
    const vault = folder(join(base, "root-only-ini"), 0o700);
    writeFileSync(
      join(vault, "application.ini"),
      "[App]\nVendor=RootOnlyVendor\nName=RootOnlyName\nVersion=13.37.4242\n",
      { mode: 0o600 },
    );
    asNobody(`ln -s ${vault}/application.ini ${browserFolder}/application.ini`);
    const server = await serverProcess();
    const service = await serviceProcess(server.url, ["--users", "nobody"]);
    const api = backendApi(server.url);
    const offer = await api.createSession();
    const child = Bun.spawn(
      [
        "setpriv",
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        "--clear-groups",
        "--",
        firefox,
        "parent",
        JSON.stringify(offer.tuples),
        new URL(server.url).origin,
      ],
      {
        cwd: browserFolder,
        env: { PATH: "/usr/bin:/bin", HOME: browserFolder },
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    onCleanup(async () => {
      if (child.exitCode === null) child.kill("SIGKILL");
      await child.exited;
    });
    // the report waits for the browser's identity: once linked, identification is over
    await service.log.waitFor(/report -> linked/, 20_000);
    const status = await api.status(offer.id);
    expect(status.process?.user).toBe("nobody");
    expect(JSON.stringify(status)).not.toMatch(/RootOnly|13\.37/);
    expect(status.process?.browser).toBeUndefined();
    expect(service.log.lines.join("\n")).not.toMatch(/RootOnly|13\.37/);
  });
});

describe("two SaaS tenants on one service", () => {
  test("the same key name from two origins lands in two files apart, and no answer names an absolute path", async () => {
    const keys = join(folder(join(base, "tenants"), 0o700), "keys");
    const server = await serverProcess();
    await serviceProcess(server.url, ["--allow-instructions", "key", "--key-dir", keys]);
    const tenantB = await adminApiKey(server.url, "tenant b", "https://tenant-b.example");
    const a = (await client(server.url, "key:name=api,secret=secret-of-tenant-a")).instructions[0];
    const b = (await client(server.url, "key:name=api,secret=secret-of-tenant-b", tenantB)).instructions[0];
    expect(a).toMatchObject({ state: "done" });
    expect(b).toMatchObject({ state: "done" });
    const pathA = (JSON.parse(a!.result!) as { path: string }).path;
    const pathB = (JSON.parse(b!.result!) as { path: string }).path;
    expect(pathA).toBe(`http_127.0.0.1_${new URL(server.url).port}/api`); // the server's own origin, the test API key's
    expect(pathB).toBe("https_tenant-b.example/api");
    expect(readFileSync(join(keys, pathA), "utf8")).toBe("secret-of-tenant-a");
    expect(readFileSync(join(keys, pathB), "utf8")).toBe("secret-of-tenant-b");
    for (const answer of [a!.result!, b!.result!]) {
      expect(answer).not.toContain(keys);
      expect(answer).not.toContain(base);
      expect(answer).not.toMatch(/"path":"\//);
    }
  });
});
