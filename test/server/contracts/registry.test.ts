// The credential registry contract: the services file (and memory) and Redis enroll, look up and revoke alike.
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { serviceRegistry } from "../../../src/server/state/memory/registry.ts";
import type { ServiceRegistry } from "../../../src/server/state/types.ts";
import { redisRegistry } from "../../../src/server/state/redis/registry.ts";
import { UnauthorizedError } from "../../../src/lib/errors.ts";
import { tempFolder } from "../../helpers.ts";

/** Polls `check` until true: a revocation reaches another instance within its lookup cache's bound (1 s). */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const end = Date.now() + 5_000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}
import { redisBackends, stopSharedDeployments, testConnection } from "./backends.ts";

/** Two handles on one registry (two instances): reopened from the same file, or two connections to one Redis. */
const implementations: Array<{
  name: string;
  open(limits?: { maxServices?: number; maxTokens?: number }): Promise<[ServiceRegistry, () => ServiceRegistry]>;
}> = [
  {
    name: "file",
    async open(limits = {}) {
      const path = join(tempFolder(), "services.json");
      // The file is read at start: the "other instance" is a restart that reads what the first wrote.
      return [serviceRegistry({ path, ...limits }), () => serviceRegistry({ path, ...limits })];
    },
  },
  ...redisBackends.map((backend) => ({
    name: backend.name,
    async open(
      limits: { maxServices?: number; maxTokens?: number } = {},
    ): Promise<[ServiceRegistry, () => ServiceRegistry]> {
      const [a, b] = await backend.open();
      // The other handle is one long-lived instance, as in a deployment: its lookups are cached (a second).
      const other = redisRegistry(b, limits);
      return [redisRegistry(a, limits), () => other];
    },
  })),
];

afterAll(stopSharedDeployments);

for (const impl of implementations) {
  describe(`registry contract: ${impl.name}`, () => {
    test("a token enrolls once; the service's key is found elsewhere until it is revoked, and stays revoked", async () => {
      const [registry, other] = await impl.open();
      const { token } = await registry.issueToken(60_000);
      const credentials = await registry.enroll(token, "laptop");
      await expect(registry.enroll(token, "again")).rejects.toBeInstanceOf(UnauthorizedError);
      expect(await other().keyOf(credentials.serviceId)).toBe(credentials.key);
      expect(await registry.keyOf("nosuchservice1")).toBeUndefined();
      expect((await other().list()).map((s) => [s.id, s.name])).toEqual([[credentials.serviceId, "laptop"]]);
      const revoked = await registry.revoke(credentials.serviceId);
      expect(revoked.revokedAt).toBeNumber();
      expect(await registry.keyOf(credentials.serviceId)).toBeUndefined();
      await eventually(
        async () => (await other().keyOf(credentials.serviceId)) === undefined,
        "the revocation on the other instance",
      );
      expect((await other().list())[0]!.revokedAt).toBe(revoked.revokedAt!);
      expect(JSON.stringify(await other().list())).not.toContain(credentials.key);
      await expect(registry.revoke("nosuchservice1")).rejects.toThrow(/no enrolled service/);
    });

    test("an expired token is refused; past maxTokens no token is issued", async () => {
      const [registry] = await impl.open({ maxTokens: 2 });
      const { token } = await registry.issueToken(50);
      await Bun.sleep(100);
      await expect(registry.enroll(token, "late")).rejects.toThrow(/unknown, used or expired/);
      await registry.issueToken(60_000);
      await registry.issueToken(60_000);
      await expect(registry.issueToken(60_000)).rejects.toThrow(/2 enrollment tokens/);
    });

    test("past maxServices a token is refused and not spent", async () => {
      const [registry] = await impl.open({ maxServices: 1 });
      await registry.enroll((await registry.issueToken(60_000)).token, "one");
      const { token } = await registry.issueToken(60_000);
      await expect(registry.enroll(token, "two")).rejects.toThrow(/1 enrolled services/);
    });

    test("two instances spend one token at once: one enrollment", async () => {
      const [registry, other] = await impl.open();
      const { token } = await registry.issueToken(60_000);
      const results = await Promise.allSettled([registry.enroll(token, "a"), other().enroll(token, "b")]);
      // The file registry is one process's: its second handle does not see the token until it is reopened,
      // so only Redis truly races here; either way, one enrollment.
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    });

    test("an API key is found by its secret elsewhere until revoked; only its digest is kept", async () => {
      const [registry, other] = await impl.open();
      const issued = await registry.issueApiKey("saas", "https://saas.example");
      expect(issued.key).toStartWith("pkak_");
      const found = await other().apiKeyOf(issued.key);
      expect(found).toEqual({
        id: issued.id,
        name: "saas",
        origin: "https://saas.example",
        createdAt: issued.createdAt,
      });
      expect(await other().apiKeyOf("pkak_wrong")).toBeUndefined();
      expect(await other().apiKeyOf("not-a-key")).toBeUndefined();
      expect((await other().listApiKeys()).map((k) => k.id)).toEqual([issued.id]);
      expect(JSON.stringify(await other().listApiKeys())).not.toContain(issued.key);
      const revoked = await registry.revokeApiKey(issued.id);
      expect(revoked.revokedAt).toBeNumber();
      expect(await registry.apiKeyOf(issued.key)).toBeUndefined();
      await eventually(
        async () => (await other().apiKeyOf(issued.key)) === undefined,
        "the API key's revocation on the other instance",
      );
      await expect(registry.revokeApiKey("ak_nosuch")).rejects.toThrow(/no API key/);
    });

    test("an API key's webhook and its secret are kept, found elsewhere by the key's id, never listed, and gone with the key", async () => {
      const [registry, other] = await impl.open();
      const plain = await registry.issueApiKey("plain", "https://saas.example");
      expect(plain).not.toHaveProperty("webhookSecret");
      expect(await other().webhookOf(plain.id)).toBeUndefined();
      const hooked = await registry.issueApiKey("hooked", "https://saas.example", "https://saas.example/pkipc-events");
      expect(hooked.webhookSecret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(await other().webhookOf(hooked.id)).toEqual({
        url: "https://saas.example/pkipc-events",
        secret: hooked.webhookSecret!,
      });
      const listed = (await other().listApiKeys()).find((k) => k.id === hooked.id);
      expect(listed).toMatchObject({ webhook: "https://saas.example/pkipc-events" });
      expect(JSON.stringify(await other().listApiKeys())).not.toContain(hooked.webhookSecret!);
      expect(await other().apiKeyOf(hooked.key)).not.toHaveProperty("webhookSecret");
      await registry.revokeApiKey(hooked.id);
      // Not cached: a revoked key's events stop at its next delivery attempt, on every instance.
      expect(await registry.webhookOf(hooked.id)).toBeUndefined();
      if (impl.name !== "file") expect(await other().webhookOf(hooked.id)).toBeUndefined();
      expect(await registry.webhookOf("ak_nosuch")).toBeUndefined();
    });
  });
}

describe("registry: Redis lookups in steady use", () => {
  test("a key in steady use is looked up again in the background, never trusted past the bound: revoked elsewhere, it is refused within it", async () => {
    const connection = await testConnection();
    const here = redisRegistry(connection, { lookupCacheMs: 300 });
    const elsewhere = redisRegistry(connection, { lookupCacheMs: 300 });
    const issued = await here.issueApiKey("saas", "https://saas.example");
    // Used every 50 ms for a second: found every time, from the cache or its background lookups.
    for (let i = 0; i < 20; i++) {
      expect((await elsewhere.apiKeyOf(issued.key))?.id).toBe(issued.id);
      await Bun.sleep(50);
    }
    await here.revokeApiKey(issued.id);
    expect(await here.apiKeyOf(issued.key)).toBeUndefined();
    const revokedAt = Date.now();
    let refusedAfter = -1;
    while (Date.now() - revokedAt < 2_000) {
      if ((await elsewhere.apiKeyOf(issued.key)) === undefined) {
        refusedAfter = Date.now() - revokedAt;
        break;
      }
      await Bun.sleep(20);
    }
    // Within the 300 ms bound, plus the pace of this loop on a busy machine (never the 2 s it waits at most).
    expect(refusedAfter).toBeGreaterThanOrEqual(0);
    expect(refusedAfter).toBeLessThan(1_000);
  });
});
