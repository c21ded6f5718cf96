/**
 * The V8 heap settings a serving process runs with (the workers of `serve --workers N` get them
 * from their primary; a single process and the gate from NODE_OPTIONS, as deploy/kubernetes sets).
 *
 * - A young generation of 4 MB per semi-space: Node 24's default grows it to 128 MB after a burst
 *   of load and keeps it, most of the RSS of an idle worker.
 * - An old-generation limit sized to what the process has to hold (the evidence cache). V8 lets
 *   the old generation grow to a multiple of what survived the last full GC before the next one,
 *   and that multiple is up to 4 when the limit is V8's default for the machine (a quarter of its
 *   memory, up to 4 GB) but 1.3–2 when the limit is below it. Under load the difference is the
 *   RSS: with 100,000 cached digests (~65 MB live) 350–410 MB with the default limit, 196–216 MB
 *   with one of 256–1,024 MB, for 8–15% more CPU per call (README, Benchmarks: RSS rows).
 *
 * A flag the operator set (on the command line or in NODE_OPTIONS) is kept: flags given to a
 * worker's command line would override NODE_OPTIONS.
 */
import { DEFAULT_CACHE_MAX_ENTRIES } from '../verification/evidence-cache';

/** V8 young-generation semi-space of a serving process, in MB. */
export const WORKER_SEMI_SPACE_MB = 4;
/**
 * The old generation the process needs without a cache: ~25 MB live once started (code, gRPC and
 * HTTP/2 state, the store); the rest is room for what a burst of calls keeps alive at once.
 */
const BASE_HEAP_MB = 192;
/**
 * Room per cache entry. An entry (evidence and manifest facts of one digest) is ~0.4 KB live for
 * an image with one signature (bench RSS rows); 2 KB leaves room for images with several
 * attestations and for the garbage between two full GCs.
 */
const ENTRY_HEAP_KB = 2;

/** The old-generation limit, in MB, for a process caching up to `cacheMaxEntries` digests. */
export function heapLimitMb(cacheMaxEntries: number | undefined): number {
  return BASE_HEAP_MB + Math.ceil(((cacheMaxEntries ?? DEFAULT_CACHE_MAX_ENTRIES) * ENTRY_HEAP_KB) / 1024);
}

/** The names of the flags in `args`, spelled with dashes (V8 accepts `--max_old_space_size` too). */
function flagNames(args: readonly string[]): Set<string> {
  return new Set(args.filter((a) => a.startsWith('--')).map((a) => a.split('=', 1)[0]!.replaceAll('_', '-')));
}

/**
 * The heap flags to add to a serving process's command line: those of this module the operator
 * did not set already (`execArgv`: the command line; `nodeOptions`: the NODE_OPTIONS it inherits).
 */
export function servingHeapFlags(
  cacheMaxEntries: number | undefined,
  given: { execArgv: readonly string[]; nodeOptions: string | undefined },
): string[] {
  const set = flagNames([...given.execArgv, ...(given.nodeOptions ?? '').split(/\s+/)]);
  const flags: string[] = [];
  if (!set.has('--max-semi-space-size')) flags.push(`--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`);
  if (!set.has('--max-old-space-size')) flags.push(`--max-old-space-size=${heapLimitMb(cacheMaxEntries)}`);
  return flags;
}
