// Knock codes: their shape, their strength in bits, and how they are drawn.
import { ConfigError } from "../lib/errors.ts";
import type { PortRange } from "../lib/ports.ts";
import { ephemeralOverlaps, FIRST_USER_PORT, rangeSize, refusedPortIn } from "./ports.ts";
import { MAX_KNOCKS } from "./schemas.ts";

/** How a code is laid out: `tuples` groups of `portsPerTuple` distinct ports. */
export interface CodeShape {
  tuples: number;
  portsPerTuple: number;
}

export const DEFAULT_SHAPE: CodeShape = { tuples: 3, portsPerTuple: 4 };

/** Codes weaker than this are refused unless forced. */
export const MIN_BITS = 32;

/** The number of ports a client knocks for one code. */
export function knockCount(shape: CodeShape): number {
  return shape.tuples * shape.portsPerTuple;
}

/** log2 of C(n, k): a code is a set of k distinct ports out of n (arrival order and duplicates carry nothing). */
export function codeBits(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  let bits = 0;
  for (let i = 0; i < k; i++) bits += Math.log2(n - i) - Math.log2(i + 1);
  return bits;
}

/**
 * Checks that a range and shape make a usable code space; returns its strength in bits.
 * Refuses browser-refused ports, ranges below 1024 or inside a default ephemeral range (services refuse
 * them), codes longer than the range, and codes under MIN_BITS unless `force`; the refusal ends by saying
 * how to force (`forceWith`, e.g. the flag that does it).
 */
export function validateCodeSpace(range: PortRange, shape: CodeShape, force = false, forceWith = "force it"): number {
  if (range.start > range.end)
    throw new ConfigError(`port range ${range.start}-${range.end} is empty: the start must not exceed the end`);
  const refused = refusedPortIn(range);
  if (refused !== undefined) {
    throw new ConfigError(
      `port range ${range.start}-${range.end} contains port ${refused}, which browsers refuse to connect to`,
    );
  }
  if (range.start < FIRST_USER_PORT) {
    throw new ConfigError(
      `port range ${range.start}-${range.end} starts below ${FIRST_USER_PORT}: services never bind system ports`,
    );
  }
  const overlaps = ephemeralOverlaps(range);
  if (overlaps.length) {
    throw new ConfigError(
      `port range ${range.start}-${range.end} overlaps the ephemeral ports of ${overlaps.join(", ")}: services there refuse to bind it`,
    );
  }
  const knocks = knockCount(shape);
  if (knocks > MAX_KNOCKS)
    throw new ConfigError(`a code of ${knocks} knocks is longer than the limit of ${MAX_KNOCKS}`);
  const size = rangeSize(range);
  if (knocks > size)
    throw new ConfigError(`a code of ${knocks} knocks needs at least ${knocks} ports, the range has ${size}`);
  const bits = codeBits(size, knocks);
  if (bits < MIN_BITS && !force) {
    throw new ConfigError(
      `the code space is only ${bits.toFixed(1)} bits (${knocks} knocks from ${size} ports); use a larger range or longer code, or ${forceWith}`,
    );
  }
  return bits;
}

/** A uniformly random integer in [0, bound), from the cryptographic source (rejection sampling, no modulo bias). */
function randomBelow(bound: number): number {
  const limit = Math.floor(0x1_0000_0000 / bound) * bound;
  const word = new Uint32Array(1);
  for (;;) {
    crypto.getRandomValues(word);
    if (word[0]! < limit) return word[0]! % bound;
  }
}

/**
 * Random bytes from the cryptographic source, drawn 4 KiB at a time and handed out once each: one call to
 * the source serves about twenty sessions (a code and an id) instead of two calls each.
 */
const POOL = new Uint8Array(4096);
const POOL_WORDS = new Uint32Array(POOL.buffer);
let poolUsed = POOL.length;

/** The offset in POOL of `count` fresh bytes (at most 4,096), word-aligned. */
function randomBytesAt(count: number): number {
  if (count > POOL.length) throw new RangeError(`at most ${POOL.length} random bytes at once`);
  let at = (poolUsed + 3) & ~3;
  if (at + count > POOL.length) {
    crypto.getRandomValues(POOL);
    at = 0;
  }
  poolUsed = at + count;
  return at;
}

/** The index in POOL_WORDS of `count` fresh random words. */
const randomWords = (count: number) => randomBytesAt(count * 4) / 4;

/** Draws a code: distinct ports, uniformly chosen, in a random knock order, split into tuples. */
export function drawCode(range: PortRange, shape: CodeShape): number[][] {
  const size = rangeSize(range);
  const knocks = knockCount(shape);
  const ports = knocks * 4 <= size ? sparseDraw(range.start, size, knocks) : shuffleDraw(range.start, size, knocks);
  const tuples: number[][] = [];
  for (let t = 0; t < shape.tuples; t++)
    tuples.push(ports.slice(t * shape.portsPerTuple, (t + 1) * shape.portsPerTuple));
  return tuples;
}

/**
 * `knocks` distinct ports, uniform and in random order, when they are few against the range (the default:
 * 12 of 64): uniform draws, repeats drawn again. A draw needs about 13 of the 48 words it takes from the pool
 * (a repeat costs one); a fresh batch comes if they run out, 16 batches at most.
 */
function sparseDraw(start: number, size: number, knocks: number): number[] {
  const limit = Math.floor(0x1_0000_0000 / size) * size;
  const ports: number[] = [];
  for (let batch = 0; batch < 16 && ports.length < knocks; batch++) {
    const from = randomWords(knocks * 4);
    for (let i = from; i < from + knocks * 4 && ports.length < knocks; i++) {
      const word = POOL_WORDS[i]!;
      if (word >= limit) continue;
      const port = start + (word % size);
      if (!ports.includes(port)) ports.push(port);
    }
  }
  // 16 batches without 12 distinct ports of 48+ is beyond any real chance; the shuffle is the exact fallback
  return ports.length === knocks ? ports : shuffleDraw(start, size, knocks);
}

/** Partial Fisher-Yates over the range: the first `knocks` slots are a uniform random k-subset in random order. */
function shuffleDraw(start: number, size: number, knocks: number): number[] {
  const pool = new Array<number>(size);
  for (let i = 0; i < size; i++) pool[i] = start + i;
  for (let i = 0; i < knocks; i++) {
    const j = i + randomBelow(size - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, knocks);
}

/** The canonical form of a set of ports: sorted and joined; equal codes have equal keys. */
export function codeKey(ports: Iterable<number>): string {
  return [...ports].sort((a, b) => a - b).join(",");
}

/** A random identifier of `bytes` bytes, base64url: session ids (16 bytes = 128 bits) and link ids. */
export function randomId(bytes = 16): string {
  return Buffer.from(POOL.buffer, randomBytesAt(bytes), bytes).toString("base64url");
}

/**
 * A random id that starts with a letter or digit: ids are typed on command lines (`pkipc admin revoke
 * ID`), where one starting with "-" would read as an option.
 */
export function randomWordId(bytes = 12): string {
  // One draw in 32 starts with "-" or "_": draw again (64 draws all failing is a 2^-320 event).
  for (let attempt = 0; attempt < 64; attempt++) {
    const id = randomId(bytes);
    if (/^[A-Za-z0-9]/.test(id)) return id;
  }
  return `a${randomId(bytes).slice(1)}`;
}
