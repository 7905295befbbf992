// What tests must undo (processes by PID, servers, temp folders), run after every test of every file, failed or not.
// bunfig.toml preloads test/setup.ts, which hooks runCleanups into bun:test: a hook registered in a shared module
// would only run for the first test file that imports it.

const cleanups: Array<() => Promise<void> | void> = [];
/** A cleanup that has not finished by then is abandoned so the rest still run. */
const CLEANUP_DEADLINE_MS = 15_000;
let hooked = false;

/** Registers something to undo after the current test, even when it fails. Last registered, first undone. */
export function onCleanup(fn: () => Promise<void> | void): void {
  if (!hooked)
    throw new Error("test/setup.ts is not preloaded: run bun test from the repository root (bunfig.toml preloads it)");
  cleanups.push(fn);
}

/** Runs every registered cleanup, newest first; one that throws or hangs does not stop the others. */
export async function runCleanups(): Promise<void> {
  while (cleanups.length) {
    const fn = cleanups.pop()!;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        Promise.resolve().then(fn),
        new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            console.error(
              `a test cleanup did not finish within ${CLEANUP_DEADLINE_MS / 1000} s; going on with the rest`,
            );
            resolve();
          }, CLEANUP_DEADLINE_MS);
        }),
      ]);
    } catch {
      // keep cleaning up the rest
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Called once by test/setup.ts after it has hooked runCleanups into bun:test. */
export function markHooked(): void {
  hooked = true;
}
