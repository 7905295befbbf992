// The typed-array hash table under the memory store: it answers as a Map would, through growth, collisions and deletions.
import { expect, test } from "bun:test";
import { SlotTable, stringKey } from "../../../../src/server/state/memory/slot-table.ts";

/** Every value the table holds for `key`, walking its probe sequence. */
function valuesOf(table: SlotTable, key: number): number[] {
  const out: number[] = [];
  for (let cell = table.first(key); cell >= 0; cell = table.next(cell, key)) out.push(table.valueAt(cell));
  return out.sort((a, b) => a - b);
}

test("random adds and removes, with many keys shared, read back as a model of them says", () => {
  const table = new SlotTable(16);
  const model = new Map<number, number[]>();
  let seed = 12345;
  const random = (n: number) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
  // keys from a small set (many duplicates) and from the whole 53-bit space
  const keyOf = () => (random(2) === 0 ? random(50) : random(2 ** 31) * 0x200000 + random(0x200000));
  // The model's keys, also as a list to draw from (a removed key swapped with the last): copying the map's keys at
  // every step made this test quadratic.
  const keys: number[] = [];
  const indexOf = new Map<number, number>();
  for (let step = 0; step < 40_000; step++) {
    if (keys.length > 0 && random(3) === 0) {
      const key = keys[random(keys.length)]!;
      const values = model.get(key)!;
      const value = values.splice(random(values.length), 1)[0]!;
      if (values.length === 0) {
        model.delete(key);
        const at = indexOf.get(key)!;
        const last = keys.pop()!;
        if (last !== key) {
          keys[at] = last;
          indexOf.set(last, at);
        }
        indexOf.delete(key);
      }
      expect(table.remove(key, value)).toBe(true);
    } else {
      const key = keyOf();
      const value = step;
      const values = model.get(key);
      if (values) values.push(value);
      else {
        model.set(key, [value]);
        indexOf.set(key, keys.length);
        keys.push(key);
      }
      table.add(key, value);
    }
    if (step % 997 === 0) {
      for (const [key, values] of model) expect(valuesOf(table, key)).toEqual([...values].sort((a, b) => a - b));
    }
  }
  let total = 0;
  for (const values of model.values()) total += values.length;
  expect(table.size).toBe(total);
  expect(table.remove(0.5, 1)).toBe(false);
  expect(valuesOf(table, 2 ** 52 + 7)).toEqual([]);
});

test("string keys differ for different ids and agree for equal ones", () => {
  const seen = new Set<number>();
  for (let i = 0; i < 100_000; i++) seen.add(stringKey(`session-${i}`));
  expect(seen.size).toBe(100_000);
  expect(stringKey("abc")).toBe(stringKey("abc"));
  expect(Number.isSafeInteger(stringKey("x".repeat(64)))).toBe(true);
});
