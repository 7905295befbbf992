// Decoding cost of macOS's pcblist_n answer on Linux (no Mac here): one knock's lookup in lists of 1,000 to 20,000 TCP sockets.
import { decodePcbList } from "../src/service/attribution/darwin/pcblist.ts";
import { findKnocker } from "../src/service/attribution/darwin/attributor.ts";
import { pcbList, type SocketSpec } from "../test/service/attribution/darwin/layouts.ts";
import { summary } from "./stats.ts";

for (const sockets of [1_000, 5_000, 20_000]) {
  const specs: SocketSpec[] = [];
  for (let i = 0; i < sockets; i++) {
    specs.push({
      macos: 13,
      local: i % 2 ? "::1" : "127.0.0.1",
      localPort: 20_000 + (i % 40_000),
      remote: i % 2 ? "::1" : "127.0.0.1",
      remotePort: 443,
      uid: 501,
      pid: 1000 + i,
    });
  }
  const buffer = pcbList(specs);
  const target = specs[sockets - 2]!;
  const knock = {
    localAddress: target.remote,
    localPort: target.remotePort,
    remoteAddress: target.local,
    remotePort: target.localPort,
  };
  const samples: number[] = [];
  for (let run = 0; run < 200; run++) {
    const start = performance.now();
    const row = findKnocker(decodePcbList(buffer, { localPort: knock.remotePort, remotePort: knock.localPort }), knock);
    samples.push(performance.now() - start);
    if (row?.pid !== target.pid) throw new Error("wrong row");
  }
  console.log(
    `pcblist_n decode + match, ${sockets} sockets (${(buffer.byteLength / 1024).toFixed(0)} KB): ${summary(samples)}`,
  );
}
console.log("(decoder only, measured on Linux; the sysctl itself and libproc calls were not measured: no Mac here)");
