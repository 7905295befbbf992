// Preloaded by bunfig.toml before every test file: cleanups run after each test of every file, and again after
// the last one, so no process a test started outlives the run.
import { afterAll, afterEach } from "bun:test";
import { markHooked, runCleanups } from "./cleanup.ts";

afterEach(runCleanups);
afterAll(runCleanups);
markHooked();
