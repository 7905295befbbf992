// Attribution latency per knock on a machine crowded with processes and descriptors.
// Run: node_modules/.bin/bun bench/attribution.ts [--rst]
// --rst closes accepted sockets with a reset (terminate) instead of a FIN (end): no TIME_WAIT rows are left.
import { readdirSync, readFileSync } from "node:fs";
import type { Subprocess } from "bun";
import { type Attributor, linuxAttributor } from "../src/service/attribution/linux/attributor.ts";

const BACKGROUND = 300;
const FDS_EACH = 50;
const BURSTS = 50;
const TUPLES = 3;
const TUPLE_SIZE = 4;
const CLOSE = process.argv.includes("--rst") ? "terminate" : "end";

const children: Subprocess[] = [];

/** Kills what this bench started, by pid; safe to call twice. */
function killAll(): void {
  for (const child of children.splice(0)) {
    try {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** 300 processes holding 50 descriptors each, verified in /proc. */
async function startBackground(): Promise<number[]> {
  const script = `for i in $(seq ${FDS_EACH}); do exec {fd}</dev/null; done; exec sleep 600`;
  const pids: number[] = [];
  for (let i = 0; i < BACKGROUND; i++) {
    const child = Bun.spawn(["bash", "-c", script], { stdio: ["ignore", "ignore", "ignore"] });
    children.push(child);
    pids.push(child.pid);
  }
  const want = BACKGROUND * FDS_EACH;
  for (let waited = 0; ; waited += 50) {
    // a ready process holds its 50 extra descriptors beside stdin, stdout and stderr
    const held = pids.reduce((sum, pid) => sum + Math.max(0, fdCount(pid) - 3), 0);
    if (held >= want) return pids;
    if (waited > 30_000) throw new Error(`background processes hold only ${held} of ${want} descriptors`);
    await Bun.sleep(50);
  }
}

/** A Bun process that knocks the tuples it reads on stdin (one JSON line per burst) and answers "ok". */
function startKnocker() {
  const script = `
    const knock = (port) => new Promise((done) => Bun.connect({ hostname: "127.0.0.1", port,
      socket: { data() {}, close: done, error: done, connectError: done } }).catch(done));
    for await (const line of console) {
      for (const tuple of JSON.parse(line)) await Promise.all(tuple.map(knock));
      console.log("ok");
    }`;
  const child = Bun.spawn([process.execPath, "-e", script], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  children.push(child);
  const reader = child.stdout.getReader();
  let buffered = "";
  return {
    pid: child.pid,
    async burst(tuples: number[][]): Promise<void> {
      child.stdin.write(`${JSON.stringify(tuples)}\n`);
      child.stdin.flush();
      const deadline = setTimeout(() => reader.cancel(), 10_000);
      try {
        while (!buffered.includes("\n")) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`knocker ${child.pid} stopped answering`);
          buffered += new TextDecoder().decode(value);
        }
        buffered = buffered.slice(buffered.indexOf("\n") + 1);
      } finally {
        clearTimeout(deadline);
      }
    },
  };
}

interface Sample {
  ms: number;
  pid: number | null;
}

/** 12 listeners that attribute each connection with the current attributor and close it once done. */
function startListeners(samples: Sample[], current: () => Attributor) {
  return Array.from({ length: TUPLES * TUPLE_SIZE }, () =>
    Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(s) {
          const start = performance.now();
          const knock = {
            localAddress: s.localAddress,
            localPort: s.localPort,
            remoteAddress: s.remoteAddress,
            remotePort: s.remotePort,
          };
          current()
            .attribute(knock)
            .then(
              (info) => samples.push({ ms: performance.now() - start, pid: info?.pid ?? null }),
              () => samples.push({ ms: performance.now() - start, pid: null }),
            )
            .finally(() => s[CLOSE]());
        },
        data() {},
        error() {},
      },
    }),
  );
}

function tableRows(): number {
  return ["tcp", "tcp6"].reduce((n, t) => n + readFileSync(`/proc/net/${t}`, "latin1").split("\n").length - 2, 0);
}

function report(label: string, samples: Sample[], pid: number): void {
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  const at = (q: number) => (ms[Math.min(ms.length - 1, Math.ceil(q * ms.length) - 1)] ?? NaN).toFixed(2);
  const wrong = samples.filter((s) => s.pid !== pid).length;
  console.log(
    `${label.padEnd(44)} knocks=${ms.length} p50=${at(0.5)} p95=${at(0.95)} p99=${at(0.99)} max=${at(1)} ms  wrong=${wrong}  tcp rows=${tableRows()}`,
  );
}

async function main(): Promise<void> {
  const old = startKnocker(); // started before the crowd: the last pid a cold scan reaches
  const background = await startBackground();
  const fresh = startKnocker();
  const total = readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .reduce((sum, p) => sum + fdCount(Number(p)), 0);
  console.log(
    `closing accepted sockets with ${CLOSE}(); background: ${background.length} processes holding ${background.reduce((s, p) => s + fdCount(p), 0)} descriptors; ` +
      `whole machine ${total} descriptors; old knocker pid ${old.pid}, new knocker pid ${fresh.pid}, background pids ${Math.min(...background)}-${Math.max(...background)}`,
  );

  let attributor: Attributor = linuxAttributor();
  const samples: Sample[] = [];
  const listeners = startListeners(samples, () => attributor);
  try {
    const ports = listeners.map((l) => l.port);
    const tuples = Array.from({ length: TUPLES }, (_, i) => ports.slice(i * TUPLE_SIZE, (i + 1) * TUPLE_SIZE));
    const run = async (label: string, knocker: ReturnType<typeof startKnocker>, coldEachTuple: boolean) => {
      samples.length = 0;
      attributor = linuxAttributor();
      for (let b = 0; b < BURSTS; b++) {
        if (!coldEachTuple) await knocker.burst(tuples);
        else {
          for (const tuple of tuples) {
            attributor = linuxAttributor(); // nothing recent: every tuple scans /proc
            await knocker.burst([tuple]);
          }
        }
      }
      report(label, samples, knocker.pid);
    };
    await run("(a) new client, 50 bursts of 3x4, warm", fresh, false);
    await run("(b) OLD client, cold cache for every tuple", old, true);
    await run("(c) new client, cold cache for every tuple", fresh, true);
    // every knock leaves a TIME_WAIT row for 60 s, and each table read walks them all
    await run("(a) again, after the knocks above", fresh, false);
  } finally {
    for (const l of listeners) l.stop(true);
    killAll();
  }
}

try {
  await main();
} finally {
  killAll();
}
