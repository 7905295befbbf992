// Runs INSIDE Windows (pkipc.exe's runtime under Wine, BUN_BE_BUN=1), started by bench/attribution-wine.ts:
// per-knock latency of the Windows attributor with busy processes and a full TCP table around it.
import type { Subprocess } from "bun";
import { summary } from "../stats.ts";
import type { Attributor, ProcessInfo } from "../../src/service/attribution/types.ts";
import { windowsAttributor } from "../../src/service/attribution/windows/attributor.ts";
import { parseTcpOwnerTable } from "../../src/service/attribution/windows/decoders.ts";
import * as win32 from "../../src/service/attribution/windows/win32.ts";
import { processEntries, readTcpTable } from "../../src/service/attribution/windows/win32.ts";

/** The real Win32 calls, with the time spent inside GetExtendedTcpTable (Wine's part) added up. */
const tableTimes: number[] = [];
const timedWin32 = {
  ...win32,
  readTcpTable(family: 4 | 6) {
    const t = performance.now();
    try {
      return win32.readTcpTable(family);
    } finally {
      tableTimes.push(performance.now() - t);
    }
  },
};

// Under Wine every table read costs rows x Wine processes x their descriptors (Wine finds each row's owner by
// reading /proc/<pid>/fd of every Wine process), so the defaults stay small; pass more to see it grow.
const BACKGROUND = Number(process.argv[2] ?? 30);
const CONNECTIONS = Number(process.argv[3] ?? 0);
const BURSTS = Number(process.argv[4] ?? 20);
const TUPLES = 3;
const TUPLE_SIZE = 4;
const children: Subprocess[] = [];
const killAll = () => {
  for (const child of children.splice(0)) child.kill();
};

/** Busy Windows processes: cmd.exe instances waiting on their stdin, each a row in every Toolhelp snapshot. */
async function startBackground(): Promise<void> {
  for (let i = 0; i < BACKGROUND; i++) {
    children.push(
      Bun.spawn(["C:\\windows\\system32\\cmd.exe", "/q", "/k"], { stdin: "pipe", stdout: "ignore", stderr: "ignore" }),
    );
  }
  for (let waited = 0; processEntries().length < BACKGROUND; waited += 100) {
    if (waited > 120_000)
      throw new Error(`only ${processEntries().length} of ${BACKGROUND} background processes started`);
    await Bun.sleep(100);
  }
}

/** Idle loopback connections held by this process: rows every table read walks past. */
async function holdConnections(): Promise<() => void> {
  const sink = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const sockets: Awaited<ReturnType<typeof Bun.connect>>[] = [];
  for (let i = 0; i < CONNECTIONS; i++)
    sockets.push(await Bun.connect({ hostname: "127.0.0.1", port: sink.port, socket: { data() {} } }));
  return () => {
    for (const s of sockets) s.terminate();
    sink.stop(true);
  };
}

/** A Windows process of this same executable that knocks the tuples it reads on stdin and answers "ok". */
function startKnocker() {
  const script = `
    const knock = (port) => new Promise((done) => Bun.connect({ hostname: "127.0.0.1", port,
      socket: { data() {}, close: done, error: done, connectError: done } }).catch(done));
    for await (const line of console) {
      for (const tuple of JSON.parse(line)) await Promise.all(tuple.map(knock));
      console.log("ok");
    }`;
  const child = Bun.spawn([process.execPath, "-e", script], {
    env: { ...process.env, BUN_BE_BUN: "1" },
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
  });
  children.push(child);
  const reader = child.stdout.getReader();
  let buffered = "";
  return {
    pid: child.pid,
    async burst(tuples: number[][]): Promise<void> {
      child.stdin.write(`${JSON.stringify(tuples)}\n`);
      child.stdin.flush();
      const deadline = setTimeout(() => reader.cancel(), 300_000); // Wine: one table read can take seconds
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

const samples: { ms: number; pid: number | null }[] = [];
let attributor: Attributor = windowsAttributor({ win32: timedWin32 });
const listeners = Array.from({ length: TUPLES * TUPLE_SIZE }, () =>
  Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        const start = performance.now();
        attributor
          .attribute({
            localAddress: s.localAddress,
            localPort: s.localPort,
            remoteAddress: s.remoteAddress,
            remotePort: s.remotePort,
          })
          .then(
            (info: ProcessInfo | null) => samples.push({ ms: performance.now() - start, pid: info?.pid ?? null }),
            () => samples.push({ ms: performance.now() - start, pid: null }),
          )
          .finally(() => s.terminate());
      },
      data() {},
    },
  }),
);

let release = () => {};
try {
  const t0 = performance.now();
  await startBackground();
  release = await holdConnections();
  const knocker = startKnocker();
  const table = readTcpTable(4).slice();
  const rows = parseTcpOwnerTable(table, 4).length;
  // pkipc's own share of a lookup: decoding and matching the whole table (no Win32 call)
  const decode: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    parseTcpOwnerTable(table, 4, table.length, new Set([1, 2, 3, 4]));
    decode.push(performance.now() - t);
  }
  const describe: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    const h = win32.openProcess(process.pid)!;
    win32.creationTime(h);
    win32.imagePath(h);
    win32.processUser(h);
    win32.closeHandle(h);
    describe.push(performance.now() - t);
  }
  let t = performance.now();
  for (let i = 0; i < 5; i++) readTcpTable(4);
  const tableMs = (performance.now() - t) / 5;
  t = performance.now();
  for (let i = 0; i < 5; i++) processEntries();
  const snapshotMs = (performance.now() - t) / 5;
  console.log(
    `Wine: ${processEntries().length} Windows processes (${BACKGROUND} cmd.exe), ${rows} IPv4 TCP rows; ` +
      `one table read ${tableMs.toFixed(2)} ms, one Toolhelp snapshot ${snapshotMs.toFixed(2)} ms (set-up ${((performance.now() - t0) / 1000).toFixed(0)} s)`,
  );
  console.log(`${"decode + match the table (pkipc's part)".padEnd(40)} ${summary(decode)}`);
  console.log(`${"describe a process (Open/Image/Token)".padEnd(40)} ${summary(describe)}`);
  const ports = listeners.map((l) => l.port);
  const tuples = Array.from({ length: TUPLES }, (_, i) => ports.slice(i * TUPLE_SIZE, (i + 1) * TUPLE_SIZE));
  const run = async (label: string, cold: boolean) => {
    samples.length = 0;
    tableTimes.length = 0;
    attributor = windowsAttributor({ win32: timedWin32 });
    for (let b = 0; b < BURSTS; b++) {
      if (cold) attributor = windowsAttributor({ win32: timedWin32 }); // nothing known: every burst describes the process again
      await knocker.burst(tuples);
    }
    const wrong = samples.filter((s) => s.pid !== knocker.pid).length;
    console.log(`${label.padEnd(40)} per knock ${summary(samples.map((s) => s.ms))}  wrong=${wrong}`);
    console.log(`${"".padEnd(40)} inside GetExtendedTcpTable (Wine) ${summary(tableTimes)}`);
  };
  await run(`(a) ${BURSTS} bursts of 3x4, warm`, false);
  await run(`(b) ${BURSTS} bursts of 3x4, cold each burst`, true);
} finally {
  release();
  for (const l of listeners) l.stop(true);
  killAll();
}
