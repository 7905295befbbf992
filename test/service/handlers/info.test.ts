// The info built-in: only the fields the local configuration allows leave the computer, and a SaaS may ask for fewer.
import { describe, expect, test } from "bun:test";
import { arch, hostname } from "node:os";
import { silentLogger } from "../../../src/lib/log.ts";
import { DEFAULT_INFO_FIELDS, INFO_FIELDS, infoHandler, parseInfoFields } from "../../../src/service/handlers/info.ts";
import { VERSION } from "../../../src/version.ts";

const knocker = {
  pid: 1,
  ppid: 0,
  uid: 1000,
  user: "ana",
  exe: "/usr/lib/firefox-esr/firefox-esr",
  name: "firefox-esr",
  browser: { name: "firefox-esr", version: "153.0", pid: 1, exe: "/usr/lib/firefox-esr/firefox-esr" },
};

async function ask(fields: readonly (typeof INFO_FIELDS)[number][] | undefined, args: Record<string, string> = {}) {
  const answer = await infoHandler({ fields }).handle(
    { id: "i", name: "info", args },
    { log: silentLogger, process: knocker, linkId: "l", signal: new AbortController().signal },
  );
  expect(answer.ok).toBe(true);
  return JSON.parse(answer.result) as Record<string, unknown>;
}

describe("info", () => {
  test("by default sends the safe subset: no host name, no user", async () => {
    const info = await ask(undefined);
    expect(Object.keys(info)).toEqual([...DEFAULT_INFO_FIELDS]);
    expect(info).toMatchObject({
      arch: arch(),
      pkipcVersion: VERSION,
      browser: "firefox-esr",
      browserVersion: "153.0",
    });
    expect(typeof info.os).toBe("string");
    expect((info.os as string).length).toBeGreaterThan(0);
    expect(typeof info.timeZone).toBe("string");
    expect(info).not.toHaveProperty("hostname");
    expect(info).not.toHaveProperty("user");
  });

  test("the local configuration may allow more; the SaaS may ask for fewer; what it asks beyond the allowed is withheld and said so", async () => {
    expect(await ask(["hostname", "user", "arch"])).toEqual({
      hostname: hostname().slice(0, 160),
      user: "ana",
      arch: arch(),
    });
    expect(await ask(["arch", "os"], { fields: "arch,hostname,user,bogus" })).toEqual({
      arch: arch(),
      withheld: ["hostname", "user"],
    });
    expect(await ask([])).toEqual({});
  });

  test("--info-fields is checked against the known fields", () => {
    expect(parseInfoFields("os, arch,os")).toEqual(["os", "arch"]);
    expect(() => parseInfoFields("os,serial")).toThrow(
      `--info-fields: unknown field "serial" (known: ${INFO_FIELDS.join(", ")})`,
    );
  });
});
