// A soak test of the memory session store, kept out of the fast lane (npm run test:fast ignores *.soak.test.ts):
// a million inserts, about 14 s.
import { expect, test } from "bun:test";
import { drawCode } from "../../../../src/protocol/code.ts";
import { memoryStore } from "../../../../src/server/state/memory/sessions.ts";
import { sessionRecord } from "../../contracts/backends.ts";

const RANGE = { start: 29170, end: 29233 };

test("codes that differ never read as the same live code: a million codes of the default range, none refused", async () => {
  const store = memoryStore({ maxRecords: 1_000_000 });
  const seen = new Set<string>();
  let refused = 0;
  for (let i = 0; i < 1_000_000; i++) {
    const r = sessionRecord(drawCode(RANGE, { tuples: 3, portsPerTuple: 4 }));
    const key = r.tuples
      .flat()
      .sort((a, b) => a - b)
      .join(",");
    if (seen.has(key)) continue; // the same code drawn twice is rightly refused
    seen.add(key);
    if (!(await store.insert(r))) refused++;
  }
  expect(refused).toBe(0); // with the old hash: about 78 in a million
  await store.close();
});
