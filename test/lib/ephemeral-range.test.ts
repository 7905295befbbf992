// This computer's ephemeral range, as each OS's tool prints it; what a service then refuses to hold.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { osEphemeralRange, parseLinuxRange, parseNetsh, parseSysctl } from "../../src/lib/ephemeral-range.ts";
import { DEFAULT_RANGE } from "../../src/protocol/ports.ts";
import { rangeRefusal } from "../../src/service/range-bounds.ts";

describe("the OS's ephemeral range", () => {
  test("Linux: read from /proc, as the kernel has it now", () => {
    const [start, end] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    expect(osEphemeralRange("linux")).toEqual({
      start: start!,
      end: end!,
      source: "/proc/sys/net/ipv4/ip_local_port_range",
    });
    expect(parseLinuxRange("32768\t60999\n")).toEqual({ start: 32768, end: 60999 });
    expect(parseLinuxRange("60999 32768")).toBeUndefined();
    expect(parseLinuxRange("garbage")).toBeUndefined();
  });

  test("Windows: netsh's start and count, in any language", () => {
    const english =
      "\r\nProtocol tcp Dynamic Port Range\r\n---------------------------------\r\nStart Port      : 49152\r\nNumber of Ports : 16384\r\n\r\n";
    expect(parseNetsh(english)).toEqual({ start: 49152, end: 65535 });
    const german =
      "\r\nProtokoll tcp Dynamischer Portbereich\r\n---------------------------------\r\nStartport       : 10000\r\nAnzahl der Ports: 1000\r\n";
    expect(parseNetsh(german)).toEqual({ start: 10000, end: 10999 });
    expect(parseNetsh("The following command was not found: int ipv4 show dynamicport tcp.")).toBeUndefined();
    expect(parseNetsh("Start Port : 60000\r\nNumber of Ports : 16384\r\n")).toBeUndefined(); // past 65535
  });

  test("macOS: sysctl's first and last", () => {
    expect(parseSysctl("49152\n65535\n")).toEqual({ start: 49152, end: 65535 });
    expect(parseSysctl("sysctl: unknown oid")).toBeUndefined();
  });

  test("where the tool is missing, the OS's default applies, named as such", () => {
    // No netsh or sysctl on this Linux machine: both fall back.
    expect(osEphemeralRange("win32")).toEqual({ start: 49152, end: 65535, source: "the Windows default" });
    if (!Bun.which("sysctl"))
      expect(osEphemeralRange("darwin")).toEqual({ start: 49152, end: 65535, source: "the macOS default" });
  });
});

describe("ranges a service refuses", () => {
  const bounds = { maxPorts: 256, ephemeral: { start: 32768, end: 60999, source: "test" } };
  test("the server's default range is held; each bound is named in one sentence", () => {
    expect(rangeRefusal(DEFAULT_RANGE, bounds)).toBeUndefined();
    expect(rangeRefusal({ start: 1023, end: 1086 }, bounds)).toBe(
      "the server's range 1023-1086 reaches below port 1024",
    );
    expect(rangeRefusal({ start: 40_000, end: 59_999 }, bounds)).toContain(
      "overlaps this computer's ephemeral ports 32768-60999 (test)",
    );
    expect(rangeRefusal({ start: 32_700, end: 32_768 }, bounds)).toContain("ephemeral");
    expect(rangeRefusal({ start: 20_000, end: 20_256 }, bounds)).toContain("has 257 ports, more than the 256");
    expect(rangeRefusal({ start: 20_000, end: 20_255 }, bounds)).toBeUndefined();
  });
});
