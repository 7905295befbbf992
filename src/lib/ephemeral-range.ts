// This computer's ephemeral port range, as its OS configures it: the ports outgoing connections take.
import { readFileSync } from "node:fs";
import type { PortRange } from "./ports.ts";

/** A range with where it was read from ("/proc/sys/net/ipv4/ip_local_port_range", "the Windows default"). */
export interface EphemeralRange extends PortRange {
  source: string;
}

/** Defaults when the setting cannot be read: Linux's, and the IANA range Windows and macOS use. */
export const LINUX_DEFAULT: PortRange = { start: 32768, end: 60999 };
export const IANA_DYNAMIC: PortRange = { start: 49152, end: 65535 };

const LINUX_FILE = "/proc/sys/net/ipv4/ip_local_port_range";
/** A reader gets this long; the range is read once at start, so a hung tool must not hold the service. */
const TOOL_TIMEOUT_MS = 3000;

function valid(start: number, end: number): PortRange | undefined {
  return Number.isInteger(start) && Number.isInteger(end) && start >= 1 && start <= end && end <= 65535
    ? { start, end }
    : undefined;
}

/** Linux's "32768\t60999". */
export function parseLinuxRange(text: string): PortRange | undefined {
  const match = /^\s*(\d{1,5})\s+(\d{1,5})\s*$/.exec(text);
  return match ? valid(Number(match[1]), Number(match[2])) : undefined;
}

/**
 * `netsh int ipv4 show dynamicport tcp`: "Start Port : 49152" then "Number of Ports : 16384". The labels
 * are translated on other Windows languages, so the first two numbers after a colon are taken.
 */
export function parseNetsh(text: string): PortRange | undefined {
  const numbers = [...text.matchAll(/:\s*(\d{1,5})\s*$/gm)].map((m) => Number(m[1]));
  if (numbers.length < 2) return undefined;
  const [start, count] = numbers as [number, number];
  return count >= 1 ? valid(start, start + count - 1) : undefined;
}

/** `sysctl -n net.inet.ip.portrange.first net.inet.ip.portrange.last`: two lines, first and last. */
export function parseSysctl(text: string): PortRange | undefined {
  const match = /^\s*(\d{1,5})\s+(\d{1,5})\s*$/.exec(text);
  return match ? valid(Number(match[1]), Number(match[2])) : undefined;
}

function tool(argv: string[]): string | undefined {
  try {
    const run = Bun.spawnSync(argv, { stdin: "ignore", stdout: "pipe", stderr: "ignore", timeout: TOOL_TIMEOUT_MS });
    return run.exitCode === 0 ? run.stdout.toString() : undefined;
  } catch {
    return undefined; // the tool is missing: the default applies
  }
}

/** This computer's ephemeral range; the OS's default (named as such) when its setting cannot be read. */
export function osEphemeralRange(platform: NodeJS.Platform = process.platform): EphemeralRange {
  if (platform === "linux") {
    let range: PortRange | undefined;
    try {
      range = parseLinuxRange(readFileSync(LINUX_FILE, "utf8"));
    } catch {
      range = undefined;
    }
    return range ? { ...range, source: LINUX_FILE } : { ...LINUX_DEFAULT, source: "the Linux default" };
  }
  if (platform === "win32") {
    const range = parseNetsh(tool(["netsh", "int", "ipv4", "show", "dynamicport", "tcp"]) ?? "");
    return range
      ? { ...range, source: "netsh int ipv4 show dynamicport tcp" }
      : { ...IANA_DYNAMIC, source: "the Windows default" };
  }
  // macOS and the BSDs name it the same way.
  const range = parseSysctl(tool(["sysctl", "-n", "net.inet.ip.portrange.first", "net.inet.ip.portrange.last"]) ?? "");
  return range
    ? { ...range, source: "sysctl net.inet.ip.portrange" }
    : { ...IANA_DYNAMIC, source: `the ${platform === "darwin" ? "macOS" : platform} default` };
}
