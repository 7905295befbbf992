// Ports as the web platform sees them (which a browser refuses), and the one place that picks free ports at run time (demo, tests, benchmarks): never a fixed port.

/** Ports the Fetch standard forbids: a browser never even connects to them (BRIEF section 2). */
const BAD_PORT_LIST = [
  0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110,
  111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532,
  540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061,
  6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
];
export const BROWSER_REFUSED_PORTS: ReadonlySet<number> = new Set(BAD_PORT_LIST);

/** A range of ports, both ends included. */
export interface PortRange {
  start: number;
  end: number;
}

function canBind(host: string, port: number): boolean {
  try {
    const listener = Bun.listen({ hostname: host, port, socket: { data() {} } });
    listener.stop(true);
    return true;
  } catch {
    return false;
  }
}

/**
 * A range of `size` consecutive ports that are free on `host` right now and hold no browser-refused
 * port, chosen at random below the ephemeral ranges so parallel runs rarely collide.
 */
export function findFreeRange(size: number, host = "127.0.0.1", attempts = 200): PortRange {
  const low = 20_000;
  const high = 32_000 - size;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const start = low + Math.floor(Math.random() * (high - low));
    const range = { start, end: start + size - 1 };
    let ok = true;
    for (let port = range.start; port <= range.end && ok; port++)
      ok = !BROWSER_REFUSED_PORTS.has(port) && canBind(host, port);
    if (ok) return range;
  }
  throw new Error(`no free range of ${size} ports on ${host} after ${attempts} attempts`);
}

/**
 * A free TCP port on `host` right now, chosen at random below the ephemeral ranges, as findFreeRange does. A port
 * the OS picks (port 0) is an ephemeral one, which any outgoing connection may take between the pick and the
 * caller's bind (seen in CI: a test's Redis sentinel lost its port to a connection of the test before). `below`
 * narrows it, e.g. for a Redis Cluster node, whose bus listens on its port + 10000.
 */
export function findFreePort(host = "127.0.0.1", below = 32_000, attempts = 500): number {
  const low = 20_000;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = low + Math.floor(Math.random() * (below - low));
    if (!BROWSER_REFUSED_PORTS.has(port) && canBind(host, port)) return port;
  }
  throw new Error(`no free port on ${host} between ${low} and ${below} after ${attempts} attempts`);
}
