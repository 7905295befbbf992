// A hash table from 53-bit keys to record numbers, in typed arrays: the garbage collector never scans it.
//
// Why not a Map: a Map that changes between two collections is scanned whole by the next one, and the
// session store changes its maps on every session issued, so each young-generation collection walked every
// live session again (6 to 13 µs per session issued at 100,000 to 600,000 live). Typed arrays hold no
// pointers and are never scanned.

/** Empty cells hold this value; record numbers are never negative. */
const EMPTY = -1;

/**
 * Open addressing with linear probing; a key may be added more than once (two ids can share a hash), so a
 * lookup walks every cell of its key and the caller checks what the record number holds.
 */
export class SlotTable {
  private keys: Float64Array;
  private values: Float64Array;
  private mask: number;
  /** Entries held. */
  size = 0;

  constructor(initialCells = 1024) {
    const cells = 2 ** Math.ceil(Math.log2(Math.max(16, initialCells)));
    this.keys = new Float64Array(cells);
    this.values = new Float64Array(cells).fill(EMPTY);
    this.mask = cells - 1;
  }

  /** The first cell of `key`'s probe sequence. */
  private home(key: number): number {
    return mix((key >>> 0) ^ Math.imul((key / 0x1_0000_0000) >>> 0, 0x85ebca6b)) & this.mask;
  }

  /** The cell of the first entry of `key`, or -1. Walk on with next(). */
  first(key: number): number {
    return this.scan(key, this.home(key));
  }

  /** The cell of the next entry of `key` after cell `cell`, or -1. */
  next(cell: number, key: number): number {
    return this.scan(key, (cell + 1) & this.mask);
  }

  /** The record number in `cell`. */
  valueAt(cell: number): number {
    return this.values[cell]!;
  }

  private scan(key: number, from: number): number {
    // bounded: the table is at most half full, so an empty cell comes before the walk wraps
    for (let i = from; this.values[i] !== EMPTY; i = (i + 1) & this.mask) {
      if (this.keys[i] === key) return i;
    }
    return -1;
  }

  add(key: number, value: number): void {
    if ((this.size + 1) * 2 > this.keys.length) this.resize(this.keys.length * 2);
    this.place(key, value);
    this.size++;
  }

  private place(key: number, value: number): void {
    let i = this.home(key);
    while (this.values[i] !== EMPTY) i = (i + 1) & this.mask;
    this.keys[i] = key;
    this.values[i] = value;
  }

  /** Removes the entry of `key` holding `value`; false when there is none. */
  remove(key: number, value: number): boolean {
    for (let cell = this.first(key); cell >= 0; cell = this.next(cell, key)) {
      if (this.values[cell] !== value) continue;
      this.vacate(cell);
      this.size--;
      return true;
    }
    return false;
  }

  /**
   * Empties `cell` and moves later entries of the same run back into it where their probe sequence allows
   * (deletion without tombstones, so lookups never slow down as entries come and go).
   */
  private vacate(cell: number): void {
    let hole = cell;
    for (let i = (cell + 1) & this.mask; this.values[i] !== EMPTY; i = (i + 1) & this.mask) {
      const home = this.home(this.keys[i]!);
      // the entry may move into the hole when its home is not between the hole and where it sits
      const fromHole = (i - hole) & this.mask;
      const fromHome = (i - home) & this.mask;
      if (fromHome >= fromHole) {
        this.keys[hole] = this.keys[i]!;
        this.values[hole] = this.values[i]!;
        hole = i;
      }
    }
    this.values[hole] = EMPTY;
  }

  private resize(cells: number): void {
    const { keys, values } = this;
    this.keys = new Float64Array(cells);
    this.values = new Float64Array(cells).fill(EMPTY);
    this.mask = cells - 1;
    for (let i = 0; i < keys.length; i++) if (values[i] !== EMPTY) this.place(keys[i]!, values[i]!);
  }
}

/** A full 32-bit mix of one value (MurmurHash3's finalizer): nearby inputs give unrelated words. */
export function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return x ^ (x >>> 16);
}

/** A 53-bit hash of a string (two 32-bit FNV-1a variants): ids as SlotTable keys. */
export function stringKey(text: string): number {
  let a = 0x811c9dc5;
  let b = 0x3b9ac9d1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 13);
  }
  return (a >>> 0) * 0x200000 + ((b >>> 0) & 0x1fffff);
}
