// `npm run release`: five binaries for their platforms, checksums sha256sum accepts, and the ones this machine can run answer --version.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, ROOT, tempFolder } from "../helpers.ts";
import { runWine, wineTools } from "../wine.ts";

const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

/** The executable format and CPU a file's header declares (ELF e_machine, Mach-O cputype, PE machine). */
function platformOf(file: string): string {
  const b = readFileSync(file).subarray(0, 4096);
  const view = new DataView(b.buffer, b.byteOffset, b.length);
  if (b[0] === 0x7f && b.toString("latin1", 1, 4) === "ELF")
    return `linux-${({ 0x3e: "x64", 0xb7: "arm64" } as Record<number, string>)[view.getUint16(18, true)] ?? "?"}`;
  if (view.getUint32(0, true) === 0xfeedfacf)
    return `darwin-${({ 0x01000007: "x64", 0x0100000c: "arm64" } as Record<number, string>)[view.getUint32(4, true)] ?? "?"}`;
  if (b.toString("latin1", 0, 2) === "MZ") {
    const pe = view.getUint32(0x3c, true); // e_lfanew: where "PE\0\0" and the COFF header start
    return `windows-${view.getUint16(pe + 4, true) === 0x8664 ? "x64" : "?"}`;
  }
  return "unknown";
}

test("npm run release writes five platform binaries and SHA256SUMS; linux-x64 and (under Wine) windows-x64 run", async () => {
  wineTools(); // fails with the apt-get line when Wine is missing
  const out = join(tempFolder(), "release");
  const release = Bun.spawnSync([BUN, join(ROOT, "scripts/release.ts"), out], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(release.exitCode, release.stderr.toString()).toBe(0);
  const names = [
    "pkipc-darwin-arm64",
    "pkipc-darwin-x64",
    "pkipc-linux-arm64",
    "pkipc-linux-x64",
    "pkipc-windows-x64.exe",
  ];
  expect(readdirSync(out).sort()).toEqual(["SHA256SUMS", ...names]);
  for (const name of names) {
    expect(platformOf(join(out, name))).toBe(name.replace(/^pkipc-|\.exe$/g, ""));
    expect(release.stdout.toString()).toMatch(new RegExp(`${name.replace(".", "\\.")}\\s+\\d+\\.\\d MiB`)); // its size is printed
  }

  const check = Bun.spawnSync(["sha256sum", "-c", "SHA256SUMS"], { cwd: out, stdout: "pipe", stderr: "pipe" });
  expect(check.exitCode, check.stderr.toString()).toBe(0);
  expect(check.stdout.toString().trim().split("\n").sort()).toEqual(names.map((n) => `${n}: OK`).sort());

  const linux = Bun.spawnSync([join(out, "pkipc-linux-x64"), "--version"], { stdout: "pipe", stderr: "pipe" });
  expect(linux.stdout.toString().trim()).toBe(VERSION);
  const windows = await runWine(join(out, "pkipc-windows-x64.exe"), ["--version"]);
  expect(windows.stdout.trim()).toBe(VERSION);
}, 240_000);
