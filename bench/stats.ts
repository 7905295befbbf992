// Small statistics for benchmarks: percentiles over measured samples.

/** The p-th percentile (0-100) of `values`, nearest-rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** "median 1.2 ms, p95 3.4 ms, p99 5.6 ms, max 7.8 ms (n=200)" */
export function summary(values: number[]): string {
  const f = (v: number) => `${v.toFixed(2)} ms`;
  return `median ${f(percentile(values, 50))}, p95 ${f(percentile(values, 95))}, p99 ${f(percentile(values, 99))}, max ${f(Math.max(...values))} (n=${values.length})`;
}
