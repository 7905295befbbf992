// trustedPath: what a root service accepts on the way to a file it runs, reads or writes, with real owners (nobody, uid 65534) and modes.
import { describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { writeAtomically } from "../../src/lib/atomic-file.ts";
import { UnsafePathError } from "../../src/lib/errors.ts";
import { trustedPath } from "../../src/lib/trusted-path.ts";
import { tempFolder } from "../helpers.ts";

const NOBODY = 65534;

function folder(path: string, mode = 0o755, uid = 0): string {
  mkdirSync(path, { recursive: true });
  chownSync(path, uid, uid);
  chmodSync(path, mode);
  return path;
}

function file(path: string, mode = 0o755, uid = 0): string {
  writeFileSync(path, "#!/bin/sh\n");
  chownSync(path, uid, uid);
  chmodSync(path, mode);
  return path;
}

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UnsafePathError);
    return (error as Error).message;
  }
  throw new Error("not refused");
};

describe("trustedPath as root", () => {
  if (process.getuid?.() !== 0) throw new Error("these tests give files to nobody: run them as root");

  test("a file in root's folders passes and comes back as its real path, through a link in a trusted folder", () => {
    const base = folder(join(tempFolder(), "base"));
    const program = file(join(folder(join(base, "bin")), "tool"));
    symlinkSync(join(base, "bin"), join(base, "link"));
    expect(trustedPath(program, "file")).toBe(program);
    expect(trustedPath(join(base, "link", "tool"), "file")).toBe(program);
    expect(trustedPath(join(base, "bin", "..", "bin", "tool"), "file")).toBe(program);
  });

  test("a folder on the way that others may write, or that nobody owns, is named in the refusal", () => {
    const base = folder(join(tempFolder(), "base"));
    const open = folder(join(base, "open"), 0o775);
    file(join(open, "tool"));
    expect(refusal(() => trustedPath(join(open, "tool"), "file"))).toBe(
      `the folder ${open} may be changed by other users (mode 775); run chmod go-w ${open}`,
    );
    const owned = folder(join(base, "owned"), 0o755, NOBODY);
    folder(join(owned, "inner"));
    file(join(owned, "inner", "tool"));
    expect(refusal(() => trustedPath(join(owned, "inner", "tool"), "file"))).toBe(
      `the folder ${owned} belongs to uid ${NOBODY}, not root: other users could replace what is inside it`,
    );
  });

  test("the file itself: another owner, writable by others, not a file", () => {
    const base = folder(join(tempFolder(), "base"));
    const theirs = file(join(base, "theirs"), 0o755, NOBODY);
    expect(refusal(() => trustedPath(theirs, "file"))).toBe(`${theirs} belongs to uid ${NOBODY}, not root`);
    const open = file(join(base, "open"), 0o777);
    expect(refusal(() => trustedPath(open, "file"))).toBe(
      `${open} may be changed by other users (mode 777); run chmod go-w ${open}`,
    );
    expect(refusal(() => trustedPath(base, "file"))).toBe(`${base} is not a file`);
  });

  test("a link is judged by where it leads: into a folder nobody controls is refused, naming that folder", () => {
    const base = folder(join(tempFolder(), "base"));
    const theirs = folder(join(base, "theirs"), 0o755, NOBODY);
    file(join(theirs, "tool"));
    symlinkSync(join(theirs, "tool"), join(base, "tool"));
    expect(refusal(() => trustedPath(join(base, "tool"), "file"))).toBe(
      `the folder ${theirs} belongs to uid ${NOBODY}, not root: other users could replace what is inside it`,
    );
    symlinkSync("loop", join(base, "loop"));
    expect(refusal(() => trustedPath(join(base, "loop"), "file"))).toContain(
      "goes through more than 32 symbolic links",
    );
  });

  test("a sticky folder every user may write (/tmp) is crossed only into a folder root owns; nothing is taken from it directly", () => {
    const sticky = folder(join(tempFolder(), "sticky"), 0o1777);
    const inside = file(join(folder(join(sticky, "private")), "tool"));
    expect(trustedPath(inside, "file")).toBe(inside);
    const direct = file(join(sticky, "tool"));
    expect(refusal(() => trustedPath(direct, "file"))).toBe(
      `${direct} sits in ${sticky}, which every user may write, and is not a folder owned by root`,
    );
    const theirs = folder(join(sticky, "theirs"), 0o755, NOBODY);
    expect(refusal(() => trustedPath(join(theirs, "x"), "folder"))).toBe(
      `${theirs} sits in ${sticky}, which every user may write, and is not a folder owned by root`,
    );
    expect(refusal(() => trustedPath(sticky, "folder"))).toBe(
      `the folder ${sticky} lets every user add files (mode 1777); use a folder only root may write`,
    );
    expect(refusal(() => trustedPath(join(sticky, "new"), "folder", { create: true }))).toContain("is not made inside");
    expect(existsSync(join(sticky, "new"))).toBe(false);
  });

  test("a missing folder is made 0700 one level at a time, each checked", () => {
    const base = folder(join(tempFolder(), "base"));
    const deep = join(base, "a", "b");
    expect(trustedPath(deep, "folder", { create: true })).toBe(deep);
    expect(statSync(join(base, "a")).mode & 0o777).toBe(0o700);
    const theirs = folder(join(base, "theirs"), 0o755, NOBODY);
    expect(refusal(() => trustedPath(join(theirs, "made"), "folder", { create: true }))).toContain(
      `the folder ${theirs} belongs to uid ${NOBODY}`,
    );
    expect(existsSync(join(theirs, "made"))).toBe(false);
  });

  test("writeAtomically refuses a folder nobody controls and a link at the target, and writes nothing", () => {
    const base = folder(join(tempFolder(), "base"));
    const theirs = folder(join(base, "theirs"), 0o755, NOBODY);
    expect(() => writeAtomically(join(theirs, "key"), "secret")).toThrow(UnsafePathError);
    expect(readdirSync(theirs)).toEqual([]);
    const mine = folder(join(base, "mine"), 0o700);
    const victim = join(base, "victim");
    writeFileSync(victim, "original");
    symlinkSync(victim, join(mine, "key"));
    expect(() => writeAtomically(join(mine, "key"), "secret")).toThrow(
      `${join(mine, "key")} exists and is not a regular file; it was not replaced`,
    );
    expect(readFileSync(victim, "utf8")).toBe("original");
    expect(writeAtomically(join(mine, "other"), "secret")).toBe(join(mine, "other"));
    expect(statSync(join(mine, "other")).mode & 0o777).toBe(0o600);
  });
});
