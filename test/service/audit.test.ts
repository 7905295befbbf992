// The audit file stays bounded: past its size it rotates to FILE.1, keeping at most two files.
import { expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../src/lib/log.ts";
import { createAuditLog } from "../../src/service/audit.ts";
import { tempFolder } from "../helpers.ts";

test("an audit file past its bound rotates once, and disk use stays within two bounds", () => {
  const folder = join(tempFolder(), "state");
  const warnings: string[] = [];
  const audit = createAuditLog(join(folder, "audit.jsonl"), createLogger({ write: (l) => warnings.push(l) }), 2000);
  const entry = { time: new Date().toISOString(), instruction: "info", id: "i1", ok: true, ms: 3, origin: "https://saas.example", linkId: "l1", pid: 1, process: "chromium", uid: 1000 };
  for (let i = 0; i < 200; i++) audit.record({ ...entry, id: `i${i}` });
  expect(warnings).toEqual([]);
  expect(statSync(audit.path).size).toBeLessThanOrEqual(2000);
  expect(statSync(`${audit.path}.1`).size).toBeLessThanOrEqual(2000);
  expect(existsSync(`${audit.path}.2`)).toBe(false);
  expect(statSync(folder).mode & 0o777).toBe(0o700);
  const last = readFileSync(audit.path, "utf8").trim().split("\n").map((l) => JSON.parse(l).id);
  expect(last.at(-1)).toBe("i199");
});

test("an audit file that cannot be written is said once, and the service goes on", () => {
  const warnings: string[] = [];
  const audit = createAuditLog("/proc/pkipc-no-such/audit.jsonl", createLogger({ write: (l) => warnings.push(l) }));
  const entry = { time: "t", instruction: "info", id: "i", ok: true, ms: 1, linkId: "l", pid: 1, process: "x", uid: 0 };
  audit.record(entry);
  audit.record(entry);
  expect(warnings.length).toBe(1);
  expect(warnings[0]).toContain("could not write the audit file");
});
