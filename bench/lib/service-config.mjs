/** The evidence cache size of the bench's service (server-child.mjs), which its heap flags are sized to (speed.mjs). */
export const BENCH_CACHE_ENTRIES = 200_000;
