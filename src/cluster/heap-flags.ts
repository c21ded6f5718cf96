/**
 * The V8 heap flag a serving process runs with: a young generation of 4 MB per semi-space
 * (Node 24's default grows it to 128 MB after a burst of load and keeps it, most of the RSS of an
 * idle worker). The workers of `serve --workers N` get it from their primary; a single process
 * and `countersign gate` from NODE_OPTIONS, as deploy/kubernetes sets it. The old generation's
 * growth is held at run time instead (src/shared/heap-headroom.ts: limits.heapHeadroomMb).
 *
 * A flag the operator set (on the command line or in NODE_OPTIONS) is kept: a flag given on a
 * worker's command line would override NODE_OPTIONS.
 */

/** V8 young-generation semi-space of a serving process, in MB. */
export const WORKER_SEMI_SPACE_MB = 4;

/** The names of the flags in `args`, spelled with dashes (V8 accepts `--max_semi_space_size` too). */
function flagNames(args: readonly string[]): Set<string> {
  return new Set(args.filter((a) => a.startsWith('--')).map((a) => a.split('=', 1)[0]!.replaceAll('_', '-')));
}

/**
 * The heap flags to add to a serving process's command line: those of this module the operator
 * did not set already (`execArgv`: the command line; `nodeOptions`: the NODE_OPTIONS it inherits).
 */
export function servingHeapFlags(given: { execArgv: readonly string[]; nodeOptions: string | undefined }): string[] {
  const set = flagNames([...given.execArgv, ...(given.nodeOptions ?? '').split(/\s+/)]);
  return set.has('--max-semi-space-size') ? [] : [`--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`];
}
