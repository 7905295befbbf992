// The --store URL of a Redis Cluster: seed nodes, credentials and TLS read from it; a clear sentence for a wrong one, never the password.
import { expect, test } from "bun:test";
import { ConfigError } from "../../../../src/lib/errors.ts";
import { checkRedisUrl, redisWhere } from "../../../../src/server/state/redis/connection.ts";
import { parseClusterUrl } from "../../../../src/server/state/redis/cluster-url.ts";

test("seed nodes, credentials and TLS are read; the port defaults to 6379; logs show the nodes, not the password", () => {
  expect(parseClusterUrl("redis+cluster://127.0.0.1:7000,127.0.0.1,[::1]:7002")).toEqual({
    seeds: [
      { host: "127.0.0.1", port: 7000 },
      { host: "127.0.0.1", port: 6379 },
      { host: "::1", port: 7002 },
    ],
    tls: false,
  });
  const url = "rediss+cluster://pkipc:s%40cret@10.0.0.1:7000,10.0.0.2:7000/";
  expect(parseClusterUrl(url)).toMatchObject({ username: "pkipc", password: "s@cret", tls: true });
  expect(redisWhere(url)).toBe("rediss+cluster://10.0.0.1:7000,10.0.0.2:7000");
  expect(() => checkRedisUrl(url)).not.toThrow();
});

test("a Cluster URL without nodes, with a database, a bad port or too many nodes is refused with one sentence", () => {
  const refused = (url: string) => {
    try {
      checkRedisUrl(url);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).not.toContain("hunter2");
      return (error as Error).message;
    }
    throw new Error(`${url} was accepted`);
  };
  expect(refused("redis+cluster://")).toMatch(/names no nodes; use redis\+cluster:\/\//);
  expect(refused("redis+cluster://u:hunter2@127.0.0.1:7000/0")).toMatch(
    /^a Redis Cluster has one database \(0\): drop the \/DB/,
  );
  expect(refused("redis+cluster://127.0.0.1:99999")).toMatch(/is not a cluster node's HOST:PORT/);
  expect(refused(`redis+cluster://${Array.from({ length: 17 }, (_, i) => `127.0.0.1:${7000 + i}`).join(",")}`)).toMatch(
    /names 1 to 16 nodes/,
  );
});
