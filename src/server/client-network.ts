// Which client an address stands for when counting what clients hold: an IPv4 address, or an IPv6 /64.
import { isIPv4, isIPv6 } from "node:net";

/**
 * The network a client address belongs to, as a key for limits: an IPv4 address is one client; an IPv6
 * address counts by its /64, because one home or one cloud machine is routinely given a whole /64 and can
 * speak from any of its 2^64 addresses. Anything else (a unix socket, "unknown") is returned as it is.
 */
export function clientNetwork(address: string): string {
  const bare = address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "");
  if (isIPv4(bare) || !isIPv6(bare)) return bare;
  const groups = expand(bare.split("%")[0]!);
  return `${groups.slice(0, 4).join(":")}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, without leading zeros ("::" and an IPv4 tail expanded). */
function expand(address: string): string[] {
  let text = address.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const left = head ? head.split(":") : [];
  const right = tail === undefined ? [] : tail ? tail.split(":") : [];
  const middle = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill("0");
  return [...left, ...middle, ...right].map((g) => Number.parseInt(g || "0", 16).toString(16));
}
