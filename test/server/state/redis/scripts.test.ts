// The Lua scripts as Redis sees them: each .lua file is read into the code, compiles on a real redis-server, and is
// known by the SHA-1 it is called by; a call with another number of keys than declared is refused before it is sent.
import { expect, test } from "bun:test";
import { SCRIPTS, SPEND, scriptRunner } from "../../../../src/server/state/redis/scripts/index.ts";
import { testRedis } from "../../../redis.ts";

test("every script compiles on Redis, under the SHA-1 it is called by", async () => {
  const redis = await testRedis();
  expect(SCRIPTS.length).toBe(11);
  for (const script of SCRIPTS) {
    expect(script.source).toMatch(/redis\.call/);
    expect(await redis.command("SCRIPT", "LOAD", script.source)).toBe(script.sha);
  }
});

test("a script called with another number of keys than it declares is refused, and nothing is sent", async () => {
  const sent: string[] = [];
  const fixed = SCRIPTS.find((s) => s.keys === 6)!;
  const run = scriptRunner(async (name) => sent.push(name), fixed);
  await expect(run(["a"], [])).rejects.toThrow(`the ${fixed.name} script takes 6 keys, not 1`);
  expect(sent).toEqual([]);
});

test("a bucket whose time was written a moment ahead of the next spend's (rounded up to a tenth of a millisecond) refills nothing and loses nothing", async () => {
  const redis = await testRedis();
  const spend = scriptRunner((name, args) => redis.command(name, ...args.map(String)), SPEND);
  const [seconds, micros] = (await redis.command("TIME")) as [string, string];
  const ahead = Number(seconds) * 1000 + Number(micros) / 1000 + 3_000; // a rounding, magnified past the test's own delays
  await redis.command("SET", "bucket", `1 ${ahead}`);
  // At a token a second, 3 s read backwards took 3 tokens: the one token held was refused.
  expect(Number(await spend(["bucket"], [1, 10, 1]))).toBe(1);
  expect(String(await redis.command("GET", "bucket"))).toMatch(/^0 /);
});
