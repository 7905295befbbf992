// The Lua scripts as Redis sees them: each .lua file is read into the code, compiles on a real redis-server, and is
// known by the SHA-1 it is called by; a call with another number of keys than declared is refused before it is sent.
import { expect, test } from "bun:test";
import { SCRIPTS, scriptRunner } from "../../../../src/server/state/redis/scripts/index.ts";
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
