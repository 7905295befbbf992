// Two products built on pkipc on one computer: each installer runs its own service (--profile), each page links its own, nothing shared.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { findFreeRange } from "../../src/lib/ports.ts";
import { writeKeyFile } from "../../src/service/key-file.ts";
import {
  backendApi,
  enrollmentToken,
  runPkipc,
  serverProcess,
  spawnPkipc,
  TEST_ALLOWED_PROCESSES,
  TEST_USER,
  tempFolder,
  watchLines,
} from "../helpers.ts";

describe("two products side by side", () => {
  test("two servers with overlapping ranges, two profiled services of one user, two clients: both link, each only its own", async () => {
    const home = tempFolder();
    // The user's own folders, as each installer finds them: no --key-file, no --state-dir.
    const env = {
      HOME: home,
      PKIPC_STATE_DIR: undefined,
      XDG_STATE_HOME: undefined,
      XDG_CONFIG_HOME: undefined,
    } as unknown as Record<string, string>;
    // Both operators kept 64 ports and their ranges overlap by 8: the second service cannot hold those.
    const wide = findFreeRange(120);
    const acme = await serverProcess(["--range", `${wide.start}-${wide.start + 63}`]);
    const globex = await serverProcess(["--range", `${wide.start + 56}-${wide.start + 119}`]);
    const service = async (profile: string, serverUrl: string, held: RegExp) => {
      const child = spawnPkipc(
        [
          "service",
          "--profile",
          profile,
          "--server",
          serverUrl,
          "--enroll",
          await enrollmentToken(serverUrl),
          "--users",
          TEST_USER,
          "--allow-processes",
          TEST_ALLOWED_PROCESSES.join(","),
          "--allow-instructions",
          "log,key",
          "--key-dir",
          join(home, `${profile}-keys`),
        ],
        env,
      );
      const log = watchLines(child.stderr);
      await log.waitFor(held, 20_000);
      return { child, log };
    };
    await service("acme", acme.url, /holding 64 of 64 ports/);
    // The overlap is the bind-failure strategy's job: server-match claims the 8 ports as failed (at most --max-failed 16).
    const second = await service("globex", globex.url, /holding 56 of 64 ports/);
    expect(second.log.lines.join("\n")).not.toMatch(/no link can succeed/);

    const link = (serverUrl: string, product: string) =>
      runPkipc(
        [
          "client",
          "--server",
          serverUrl,
          "--json",
          "--timeout",
          "30s",
          "--instruction",
          `key:name=${product}-token,secret=${product}-secret`,
        ],
        45_000,
      );
    const [a, b] = await Promise.all([link(acme.url, "acme"), link(globex.url, "globex")]);
    const ra = JSON.parse(a.stdout);
    const rb = JSON.parse(b.stdout);
    // What each client said, if one did not link: its JSON (code, message, knocks) and its stderr.
    expect(ra.linked, `acme: ${a.stdout} ${a.stderr}`).toBe(true);
    expect(rb.linked, `globex: ${b.stdout} ${b.stderr}`).toBe(true);
    expect((await backendApi(acme.url).status(ra.sessionId)).instructions[0]).toMatchObject({
      name: "key",
      state: "done",
    });
    expect((await backendApi(globex.url).status(rb.sessionId)).instructions[0]).toMatchObject({
      name: "key",
      state: "done",
    });

    // Each product's key went to its own service and folder only.
    const files = (folder: string) => (existsSync(folder) ? readdirSync(folder, { recursive: true }).map(String) : []);
    expect(files(join(home, "acme-keys")).some((f) => f.endsWith("acme-token"))).toBe(true);
    expect(files(join(home, "acme-keys")).some((f) => f.includes("globex"))).toBe(false);
    expect(files(join(home, "globex-keys")).some((f) => f.endsWith("globex-token"))).toBe(true);
    expect(files(join(home, "globex-keys")).some((f) => f.includes("acme"))).toBe(false);
    // Separate enrollments in separate key files, separate audit files naming only their own instruction.
    const keyFile = (p: string) => join(home, ".config", "pkipc", p, "service-key.json");
    expect(readFileSync(keyFile("acme"), "utf8")).not.toBe(readFileSync(keyFile("globex"), "utf8"));
    const audit = (p: string) => readFileSync(join(home, ".local", "state", "pkipc", p, "audit.jsonl"), "utf8");
    expect(audit("acme")).toContain(new URL(acme.url).origin);
    expect(audit("acme")).not.toContain(new URL(globex.url).origin);
    expect(audit("globex")).toContain(new URL(globex.url).origin);
    expect(audit("globex")).not.toContain(new URL(acme.url).origin);
    // No service of the default profile was made.
    expect(existsSync(join(home, ".config", "pkipc", "service-key.json"))).toBe(false);

    // status per profile: each names its own server and ports.
    const status = async (p: string) =>
      JSON.parse((await runPkipc(["service", "status", "--profile", p, "--json"], 20_000, env)).stdout);
    expect(await status("acme")).toMatchObject({ running: true, server: `${acme.url}/` });
    const g = await status("globex");
    expect(g).toMatchObject({ running: true, server: `${globex.url}/` });
    expect(g.ports.missing).toHaveLength(8);
  });

  test("each profile installs its own autostart entry and finds its own key by default", async () => {
    const home = tempFolder();
    const env = { HOME: home, XDG_CONFIG_HOME: undefined, PKIPC_STATE_DIR: undefined } as unknown as Record<
      string,
      string
    >;
    for (const p of ["acme", "globex"]) {
      writeKeyFile(
        join(home, ".config", "pkipc", p, "service-key.json"),
        { serviceId: `${p}-service-id`, key: "A".repeat(43) },
        `https://${p}.example/`,
      );
    }
    const plan = (p: string) =>
      runPkipc(["service", "install", "--profile", p, "--users", TEST_USER, "--dry-run"], 20_000, env);
    const [acme, globex] = await Promise.all([plan("acme"), plan("globex")]);
    expect(acme.code).toBe(0);
    expect(acme.stdout).toContain(join(home, ".config", "systemd", "user", "pkipc-acme.service"));
    expect(acme.stdout).toContain(`"--profile" "acme"`);
    expect(acme.stdout).toContain("systemctl --user enable pkipc-acme.service");
    expect(globex.stdout).toContain(join(home, ".config", "systemd", "user", "pkipc-globex.service"));
    // each finds its own enrollment (and so its own server) with no --key-file
    const status = async (p: string) =>
      JSON.parse((await runPkipc(["service", "status", "--profile", p, "--json"], 20_000, env)).stdout);
    expect(await status("acme")).toMatchObject({
      running: false,
      server: "https://acme.example/",
      serviceId: "acme-service-id",
    });
    expect(await status("globex")).toMatchObject({
      running: false,
      server: "https://globex.example/",
      serviceId: "globex-service-id",
    });
  });
});
