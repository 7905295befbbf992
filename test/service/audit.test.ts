// The audit file stays bounded: past its size it rotates to FILE.1, keeping at most two files.
import { expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../src/lib/log.ts";
import { createAuditLog } from "../../src/service/audit.ts";
import { tempFolder } from "../helpers.ts";

test("an audit file past its bound rotates once, and disk use stays within two bounds", () => {
  const folder = join(tempFolder(), "state");
  const warnings: string[] = [];
  const audit = createAuditLog(join(folder, "audit.jsonl"), createLogger({ write: (l) => warnings.push(l) }), 2000);
  const entry = {
    time: new Date().toISOString(),
    instruction: "info",
    id: "i1",
    ok: true,
    ms: 3,
    origin: "https://saas.example",
    linkId: "l1",
    pid: 1,
    process: "chromium",
    uid: 1000,
  };
  for (let i = 0; i < 200; i++) audit.record({ ...entry, id: `i${i}` });
  expect(warnings).toEqual([]);
  expect(statSync(audit.path).size).toBeLessThanOrEqual(2000);
  expect(statSync(`${audit.path}.1`).size).toBeLessThanOrEqual(2000);
  expect(existsSync(`${audit.path}.2`)).toBe(false);
  expect(statSync(folder).mode & 0o777).toBe(0o700);
  const last = readFileSync(audit.path, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l).id);
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

test("a link planted at the audit file, or a folder others may write, takes no line: the target is untouched", () => {
  const base = tempFolder();
  const target = join(base, "victim");
  writeFileSync(target, "original\n", { mode: 0o600 });
  const warnings: string[] = [];
  const entry = { time: "t", instruction: "info", id: "i", ok: true, ms: 1, linkId: "l", pid: 1, process: "x", uid: 0 };
  // a link at the file itself
  const state = join(base, "state");
  mkdirSync(state, { mode: 0o700 });
  symlinkSync(target, join(state, "audit.jsonl"));
  createAuditLog(join(state, "audit.jsonl"), createLogger({ write: (l) => warnings.push(l) })).record(entry);
  // a state folder every user may write (no sticky bit): another user could have planted anything there
  const open = join(base, "open");
  mkdirSync(open);
  chmodSync(open, 0o777);
  createAuditLog(join(open, "audit.jsonl"), createLogger({ write: (l) => warnings.push(l) })).record(entry);
  expect(readFileSync(target, "utf8")).toBe("original\n");
  expect(existsSync(join(open, "audit.jsonl"))).toBe(false);
  expect(warnings.length).toBe(2);
  expect(warnings[1]).toContain(open);
});
