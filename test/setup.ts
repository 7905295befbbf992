// Preloaded by bunfig.toml before every test file: cleanups run after each test of every file, and again after
// the last one, so no process a test started outlives the run. Real processes, sockets and browsers make some
// tests slow: 60 s per test unless a test says otherwise (bunfig's own `timeout` key is not read by bun test).
import { afterAll, afterEach, setDefaultTimeout } from "bun:test";
import { markHooked, runCleanups } from "./cleanup.ts";

setDefaultTimeout(60_000);
afterEach(runCleanups);
afterAll(runCleanups);
markHooked();
