// Whose programs a service links: --users parsing and the default of a service running as root or not.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { parseUsers, usersToServe } from "../../src/service/users.ts";
import { tempFolder } from "../helpers.ts";

describe("--users", () => {
  test("names and uids resolve through the passwd file; unknown names and empty lists are refused", () => {
    const passwd = join(tempFolder(), "passwd");
    writeFileSync(
      passwd,
      "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nalice:x:1999:1999::/:/bin/sh\n",
    );
    expect(parseUsers("alice, 1001,root,alice", "--users", passwd)).toEqual([1000, 1001, 0]);
    expect(() => parseUsers("mallory", "--users", passwd)).toThrow(/there is no user "mallory"/);
    expect(() => parseUsers(" , ", "--users", passwd)).toThrow(/at least one user/);
  });

  test("a service not running as root serves only its own user by default; as root it must be told", () => {
    expect(usersToServe(undefined, 1000)).toEqual([1000]);
    expect(usersToServe([1000, 1001], 0)).toEqual([1000, 1001]);
    expect(() => usersToServe(undefined, 0)).toThrow(/running as root .*--users/);
    expect(usersToServe(undefined, undefined)).toBeUndefined();
  });
});
