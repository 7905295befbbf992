// The one place that picks free ports at run time (demo, tests, benchmarks): never a fixed port.
import { BROWSER_REFUSED_PORTS, type PortRange } from "../protocol/ports.ts";

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
    for (let port = range.start; port <= range.end && ok; port++) ok = !BROWSER_REFUSED_PORTS.has(port) && canBind(host, port);
    if (ok) return range;
  }
  throw new Error(`no free range of ${size} ports on ${host} after ${attempts} attempts`);
}

/** A free TCP port on `host`, chosen by the OS. */
export function findFreePort(host = "127.0.0.1"): number {
  const listener = Bun.listen({ hostname: host, port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}
