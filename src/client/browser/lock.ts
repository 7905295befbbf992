// Serialises knocking across the tabs of one origin: every tab of a browser knocks from the same process.

/**
 * Runs `fn` holding the origin-wide Web Lock `name`, so the service never sees two tabs' codes interleaved.
 * Without the Web Locks API (an insecure http page) `fn` runs at once: such a page cannot be serialised.
 */
export async function withKnockLock<T>(name: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (!locks) return fn();
  return locks.request(name, { signal }, fn) as Promise<T>;
}
