// What naming a real browser costs the service: the first identification (files and the package database) and a cached one, for Chromium and Firefox.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { type BrowserKind, launchBrowser } from "../test/browser/launch.ts";
import type { ProcessInfo } from "../src/protocol/schemas.ts";
import { browserIdentifier } from "../src/service/attribution/linux/identity.ts";
import { summary } from "./stats.ts";

const ROUNDS = 10;

/** The process that knocks: Chromium's network-service helper, Firefox's main process. */
function knocker(kind: BrowserKind, root: number): ProcessInfo {
  const read = (pid: number, file: string) => {
    try {
      return readFileSync(`/proc/${pid}/${file}`, "latin1");
    } catch {
      return "";
    }
  };
  const ppid = (pid: number) => Number(read(pid, "stat").split(") ")[1]?.split(" ")[1]);
  let pid = root;
  if (kind === "chromium") {
    const pids = readdirSync("/proc")
      .filter((n) => /^\d+$/.test(n))
      .map(Number);
    const descends = (p: number) => {
      for (let step = 0; step < 8 && p > 1; step++, p = ppid(p)) if (p === root) return true;
      return false;
    };
    const found = pids.find((p) => descends(p) && read(p, "cmdline").includes("network.mojom.NetworkService"));
    if (!found) throw new Error("Chromium's network service process was not found");
    pid = found;
  }
  return {
    pid,
    ppid: ppid(pid),
    uid: 0,
    user: "root",
    exe: readlinkSync(`/proc/${pid}/exe`),
    name: read(pid, "comm").trim(),
  };
}

for (const kind of ["chromium", "firefox"] as const) {
  const launched = await launchBrowser(kind);
  try {
    await (await launched.browser.newPage()).goto("about:blank");
    const process = knocker(kind, launched.pid);
    const first: number[] = [];
    const cached: number[] = [];
    let named = "";
    for (let round = 0; round < ROUNDS; round++) {
      // a new identifier per round: an empty cache, as in a service that just started
      const identify = browserIdentifier();
      let start = performance.now();
      const found = await identify.identify(process);
      first.push(performance.now() - start);
      start = performance.now();
      await identify.identify(process);
      cached.push(performance.now() - start);
      named = `${found.browser?.name} ${found.browser?.version}`;
    }
    console.log(`${kind}: identified as "${named}" from pid ${process.pid} (${process.exe})`);
    console.log(`  first identification (round 1 = ${first[0]!.toFixed(1)} ms): ${summary(first)}`);
    console.log(`  cached identification: ${summary(cached)}`);
  } finally {
    await launched.close();
  }
}
