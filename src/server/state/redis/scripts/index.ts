// The Redis backend's Lua scripts, each a .lua file beside this one, with how many keys it takes declared here.
// Each runs atomically on one Redis (in a Cluster, on the one node that holds all its keys' hash slot).
// The reference brings the .lua module type along wherever this file is checked (an integrator's project too).
/// <reference path="./lua.d.ts" />
import byLink from "./by-link.lua" with { type: "text" };
import changes from "./changes.lua" with { type: "text" };
import enroll from "./enroll.lua" with { type: "text" };
import find from "./find.lua" with { type: "text" };
import insert from "./insert.lua" with { type: "text" };
import issueApiKey from "./issue-api-key.lua" with { type: "text" };
import issueToken from "./issue-token.lua" with { type: "text" };
import libCharge from "./lib-charge.lua" with { type: "text" };
import libSpend from "./lib-spend.lua" with { type: "text" };
import remember from "./remember.lua" with { type: "text" };
import replace from "./replace.lua" with { type: "text" };
import revoke from "./revoke.lua" with { type: "text" };
import spend from "./spend.lua" with { type: "text" };
import type { LuaScript, Script } from "../types.ts";

const lua = (name: string, source: string, keys: LuaScript["keys"]): LuaScript => ({
  name,
  source,
  keys,
  sha: new Bun.CryptoHasher("sha1").update(source).digest("hex"),
});

// The library parts (lib-*.lua) define Lua functions the scripts after them call: spend() and clock(), charge().
const withSpend = (source: string) => `${libSpend}\n${source}`;
const withCharges = (source: string) => `${libSpend}\n${libCharge}\n${source}`;

/** Sessions (../sessions.ts). */
export const INSERT = lua("insert", withSpend(insert), "varies");
export const REPLACE = lua("replace", replace, 6);
export const FIND = lua("find", withCharges(find), "varies");
export const BY_LINK = lua("by-link", byLink, 1);
export const CHANGES = lua("changes", changes, 1);

/** The registry (../registry.ts). */
export const ENROLL = lua("enroll", enroll, 4);
export const ISSUE_TOKEN = lua("issue-token", issueToken, 2);
export const REVOKE = lua("revoke", revoke, 1);
export const ISSUE_API_KEY = lua("issue-api-key", issueApiKey, 3);

/** Nonces (../nonces.ts). */
export const REMEMBER = lua("remember", withCharges(remember), "varies");

/** Buckets (../buckets.ts). */
export const SPEND = lua("spend", withSpend(spend), 1);

/** The scripts there are: a test runs each once against a real Redis to see that its source loads. */
export const SCRIPTS: readonly LuaScript[] = [
  INSERT,
  REPLACE,
  FIND,
  BY_LINK,
  CHANGES,
  ENROLL,
  ISSUE_TOKEN,
  REVOKE,
  ISSUE_API_KEY,
  REMEMBER,
  SPEND,
];

/**
 * Runs `script` through `command` by EVALSHA, and by EVAL when this Redis does not know it yet (NOSCRIPT: first
 * use, a restart, a promoted replica that never ran it), which loads it for the next time. A call whose number of
 * keys differs from the declared one throws before it is sent: a fault of the caller's.
 */
export function scriptRunner(
  command: (name: string, args: Array<string | number>) => Promise<unknown>,
  script: LuaScript,
): Script {
  return async (keys, args) => {
    if (script.keys !== "varies" && keys.length !== script.keys)
      throw new Error(`the ${script.name} script takes ${script.keys} keys, not ${keys.length}`);
    try {
      return await command("EVALSHA", [script.sha, keys.length, ...keys, ...args]);
    } catch (error) {
      if (!/^NOSCRIPT/.test((error as Error).message)) throw error;
      return command("EVAL", [script.source, keys.length, ...keys, ...args]);
    }
  };
}
