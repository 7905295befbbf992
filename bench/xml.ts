// How long refusing each hostile XML body takes (test/fixtures/hostile-xml.ts): the parser must stay linear and fast.
import { decode } from "../src/protocol/codec.ts";
import { Report } from "../src/protocol/schemas.ts";
import { HOSTILE_XML } from "../test/fixtures/hostile-xml.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 50);
const rows: { name: string; median: number; max: number }[] = [];
for (const [name, body] of Object.entries(HOSTILE_XML)) {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    try {
      decode(Report, body, "xml");
      throw new Error(`${name} was accepted`);
    } catch (error) {
      if ((error as Error).message.endsWith("was accepted")) throw error;
    }
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  rows.push({ name, median: times[Math.floor(times.length / 2)]!, max: times.at(-1)! });
}
for (const r of rows)
  console.log(`  ${r.name.padEnd(36)} median ${r.median.toFixed(2)} ms, max ${r.max.toFixed(2)} ms`);
const worst = rows.reduce((a, b) => (b.median > a.median ? b : a));
console.log(
  `hostile XML (${rows.length} bodies of about 64 KiB, ${RUNS} runs each): worst median ${worst.median.toFixed(2)} ms (${worst.name})`,
);
