// Preloaded by bunfig.toml before every test file: cleanups run after each test of every file, and again after
// the last one, so no process a test started outlives the run. Real processes, sockets and browsers make some
// tests slow: the one per-test limit, 120 s, is `--timeout 120000` in the npm scripts. Neither bunfig's own
// `timeout` key nor a setDefaultTimeout here works: bun 1.4.5 reads the first not at all, and applies the
// second to the first test file only (every later file got 5 s). Only a test that needs longer says so.
import { afterAll, afterEach } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { markHooked, runCleanups } from "./cleanup.ts";

afterEach(runCleanups);
afterAll(runCleanups);
markHooked();

// A service any test starts with the environment it inherits writes its state and audit files here, never into
// the home folder of whoever runs the tests (tests that need a folder of their own still set one).
if (!process.env.PKIPC_STATE_DIR) {
  const state = mkdtempSync(join(tmpdir(), "pkipc-test-state-"));
  process.env.PKIPC_STATE_DIR = state;
  process.on("exit", () => rmSync(state, { recursive: true, force: true }));
}
