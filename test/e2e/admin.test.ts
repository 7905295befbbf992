// `pkipc admin` as an operator uses it against a running server: API keys for SaaS backends, listed and revoked.
import { describe, expect, test } from "bun:test";
import { apiClient } from "../../src/protocol/api-client.ts";
import { VERSION } from "../../src/version.ts";
import { join } from "node:path";
import { runPkipc, serverProcess, serviceProcess, tempFolder, TEST_USER } from "../helpers.ts";
import { testRedis } from "../redis.ts";

describe("pkipc admin api-key | api-keys | revoke-api-key", () => {
  test("a key made on the command line creates sessions of its origin; listed without the key; revoked, it fails at once", async () => {
    const server = await serverProcess();
    const env = { PKIPC_ADMIN_SECRET: server.adminSecret };
    const made = await runPkipc(
      ["admin", "api-key", "shop backend", "--origin", "https://shop.example", "--server", server.url],
      15_000,
      env,
    );
    expect(made.code).toBe(0);
    const [key, note] = made.stdout.trim().split("\n");
    expect(key).toMatch(/^pkak_[A-Za-z0-9_-]{43}$/);
    expect(note).toContain("https://shop.example");
    const id = /API key (ak_\S+)/.exec(note!)![1]!;

    const api = apiClient(server.url, { apiKey: key });
    const offer = await api.createSession();
    expect((await api.status(offer.id)).origin).toBe("https://shop.example");

    const listed = await runPkipc(["admin", "api-keys", "--server", server.url], 15_000, env);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(`${id}  shop backend  https://shop.example`);
    expect(listed.stdout).not.toContain(key!);

    const revoked = await runPkipc(["admin", "revoke-api-key", id, "--server", server.url], 15_000, env);
    expect(revoked.code).toBe(0);
    await expect(api.createSession()).rejects.toMatchObject({ status: 401, code: "BAD_API_KEY" });
    expect((await runPkipc(["admin", "api-keys", "--server", server.url], 15_000, env)).stdout).toContain("REVOKED");
  });

  test("an API key needs a web origin, and a bad one is refused in one sentence", async () => {
    const server = await serverProcess();
    const env = { PKIPC_ADMIN_SECRET: server.adminSecret };
    const missing = await runPkipc(["admin", "api-key", "x", "--server", server.url], 15_000, env);
    expect(missing.code).toBe(64);
    expect(missing.stderr).toContain("--origin");
    const bad = await runPkipc(
      ["admin", "api-key", "x", "--origin", "https://shop.example/path", "--server", server.url],
      15_000,
      env,
    );
    expect(bad.code).toBe(64);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("a value the server's schema refuses is said in a sentence naming the field", () => {
  test("admin revoke with a short id, admin api-key with a tab in its name, service --enroll with a short token", async () => {
    const server = await serverProcess();
    const env = { PKIPC_ADMIN_SECRET: server.adminSecret };
    const revoke = await runPkipc(["admin", "revoke", "x", "--server", server.url], 15_000, env);
    expect(revoke.code).not.toBe(0);
    expect(revoke.stderr.trim()).toMatch(/^pkipc admin revoke: id must be \d+ to \d+ characters long, not 1$/);
    const named = await runPkipc(
      ["admin", "api-key", "a\tb", "--origin", "https://shop.example", "--server", server.url],
      15_000,
      env,
    );
    expect(named.stderr.trim()).toBe("pkipc admin api-key: name has a character or a form that is not allowed there");
    const enroll = await runPkipc(
      [
        "service",
        "--server",
        server.url,
        "--enroll",
        "short",
        "--key-file",
        join(tempFolder(), "k.json"),
        "--users",
        TEST_USER,
      ],
      15_000,
    );
    expect(enroll.stderr.trim()).toMatch(
      /enrollment with \S+ failed: token must be \d+ to \d+ characters long, not 5$/,
    );
    for (const run of [revoke, named, enroll]) expect(run.stderr).not.toMatch(/\/\w+: Expected/);
  });
});

describe("pkipc server --allow-origin", () => {
  test("given twice, both origins' pages may create sessions; any other gets 403", async () => {
    const server = await serverProcess(["--allow-origin", "https://a.example", "--allow-origin=https://b.example"]);
    const create = (origin: string) => fetch(`${server.url}/v1/sessions`, { method: "POST", headers: { origin } });
    expect((await create("https://a.example")).status).toBe(201);
    const b = await create("https://b.example");
    expect(b.status).toBe(201);
    expect(b.headers.get("access-control-allow-origin")).toBe("https://b.example");
    expect((await create("https://c.example")).status).toBe(403);
  });
});

describe("pkipc admin services", () => {
  test("--json lists each service with when it was last seen, from which address and as which version, whichever instance on one Redis saw it", async () => {
    const redis = await testRedis();
    const a = await serverProcess(["--store", redis.url]);
    await serviceProcess(a.url);
    const before = Date.now();
    const link = await runPkipc(["client", "--server", a.url, "--json"], 30_000);
    expect(JSON.parse(link.stdout)).toMatchObject({ linked: true }); // the service's signed report
    const b = await serverProcess(["--store", redis.url]);
    const listed = await runPkipc(["admin", "services", "--json", "--server", b.url], 15_000, {
      PKIPC_ADMIN_SECRET: b.adminSecret,
    });
    expect(listed.code).toBe(0);
    const { services } = JSON.parse(listed.stdout) as {
      services: Array<{ id: string; lastSeenAt?: string; address?: string; version?: string }>;
    };
    expect(services).toEqual([
      expect.objectContaining({
        id: expect.any(String),
        address: "127.0.0.1",
        version: VERSION,
        lastSeenAt: expect.any(String),
      }),
    ]);
    const seenAt = Date.parse(services[0]!.lastSeenAt!);
    expect(seenAt).toBeGreaterThanOrEqual(before - 1000);
    expect(seenAt).toBeLessThanOrEqual(Date.now());
    const text = await runPkipc(["admin", "services", "--server", b.url], 15_000, {
      PKIPC_ADMIN_SECRET: b.adminSecret,
    });
    expect(text.stdout).toContain(`last seen ${services[0]!.lastSeenAt} from 127.0.0.1 (pkipc ${VERSION})`);
  });
});
