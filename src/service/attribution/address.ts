// IP addresses as bytes and as one canonical text, shared by the procfs and netlink socket lookups.

/** Dotted IPv4, or RFC 5952 IPv6; an IPv4-mapped IPv6 address is written as the IPv4 address it maps. */
export function formatAddress(bytes: number[]): string {
  if (bytes.length === 4) return bytes.join(".");
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255;
  if (mapped) return bytes.slice(12).join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  let best = -1;
  let bestLength = 1; // RFC 5952: "::" only shortens two or more zero groups
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLength).join(":")}`;
}

function parseIpv4(text: string): number[] | null {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) < 256)) return null;
  return parts.map(Number);
}

function parseIpv6(text: string): number[] | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (half: string): number[] | null => {
    const out: number[] = [];
    for (const part of half === "" ? [] : half.split(":")) {
      const v4 = part.includes(".") ? parseIpv4(part) : null;
      if (v4) out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      else if (/^[0-9a-f]{1,4}$/i.test(part)) out.push(Number.parseInt(part, 16));
      else return null;
    }
    return out;
  };
  const head = groups(halves[0] ?? "");
  const tail = halves.length === 2 ? groups(halves[1] ?? "") : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return null;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  return all.flatMap((g) => [g >>> 8, g & 255]);
}

/**
 * One spelling per address, so a listener's "::ffff:127.0.0.1" or "0:0::1" compares equal to what
 * procfs shows. Text that is not an address comes back unchanged (it then matches nothing).
 */
export function canonicalAddress(text: string): string {
  const bytes = addressBytes(text);
  return bytes ? formatAddress(bytes) : text;
}

/** The bytes of an address in network order: 4 for IPv4 (also for an IPv4-mapped IPv6 address), 16 for IPv6; null if not an address. */
export function addressBytes(text: string): number[] | null {
  const bare = text.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const bytes = bare.includes(":") ? parseIpv6(bare) : parseIpv4(bare);
  const mapped =
    bytes?.length === 16 && bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255;
  return mapped ? bytes!.slice(12) : bytes;
}
