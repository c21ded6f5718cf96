/**
 * The one duration parser. A duration is one or more `<number><unit>` components ("30m", "1h30m");
 * where durations are written, one dialect says which units, whether fractions, a bare number and
 * zero are allowed. The differences are deliberate, each for its writer:
 *
 * - POLICY_DURATION (policy maxAge and the like, and docs/policy.schema.json's pattern): whole
 *   numbers; ms, s, m, h, d, w; no bare numbers ("72" could be hours or seconds, and a misread
 *   maximum scan age is a silent policy hole); longer than zero.
 * - GO_DURATION (the API server's `?timeout=10s`, as Go's time.Duration writes it): fractions
 *   ("1.5s"); ns, us, µs, ms, s, m, h (Go has no d or w); zero allowed; no sign, no bare "0".
 * - CLI_SECONDS (`countersign keys rotate --overlap`): the policy's units, a bare number is
 *   seconds, zero allowed (no overlap at all), and the total must be whole seconds.
 */

export const DURATION_UNIT_MS = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
} as const;
export type DurationUnit = keyof typeof DURATION_UNIT_MS;

export interface DurationDialect<U extends DurationUnit = DurationUnit> {
  units: readonly U[];
  /** "1.5h" */
  fractions: boolean;
  /** The unit of a number written alone; undefined: a bare number is refused. */
  bareNumber?: U;
  /** Whether a total of zero is a duration. */
  zero: boolean;
  /** Totals must be a whole multiple of this many ms (e.g. 1000: whole seconds). */
  multipleOfMs?: number;
  /** Shown in errors. */
  example: string;
}

export const POLICY_DURATION: DurationDialect<'ms' | 's' | 'm' | 'h' | 'd' | 'w'> = {
  units: ['ms', 's', 'm', 'h', 'd', 'w'],
  fractions: false,
  zero: false,
  example: '30m, 72h, 7d',
};

export const GO_DURATION: DurationDialect<'ns' | 'us' | 'µs' | 'ms' | 's' | 'm' | 'h'> = {
  units: ['ns', 'us', 'µs', 'ms', 's', 'm', 'h'],
  fractions: true,
  zero: true,
  example: '10s, 1m30s, 500ms',
};

export const CLI_SECONDS: DurationDialect<'ms' | 's' | 'm' | 'h' | 'd' | 'w'> = {
  units: ['ms', 's', 'm', 'h', 'd', 'w'],
  fractions: false,
  bareNumber: 's',
  zero: true,
  multipleOfMs: 1000,
  example: '7d, 12h, 30m or seconds',
};

export type ParsedDuration<U extends DurationUnit> = { ms: number; unit: U } | { error: string };

const grammars = new WeakMap<DurationDialect, RegExp>();

function grammar(dialect: DurationDialect): RegExp {
  let re = grammars.get(dialect);
  if (!re) {
    // Longest unit first, so that "ms" is not read as "m" followed by junk.
    const units = [...dialect.units].sort((a, b) => b.length - a.length).join('|');
    re = new RegExp(`(${dialect.fractions ? '\\d+(?:\\.\\d+)?' : '\\d+'})(${units})`, 'y');
    grammars.set(dialect, re);
  }
  return re;
}

/**
 * `text` in milliseconds (fractions below 1 ms only in dialects with ns/us), with its largest
 * unit (so that messages can speak the writer's unit), or an error text: parsers inside
 * documents report every problem with its position, so nothing here throws.
 */
export function parseDuration<U extends DurationUnit>(text: string, dialect: DurationDialect<U>): ParsedDuration<U> {
  const unitList = dialect.units.join(', ');
  const notOne = { error: `"${text}" is not a duration; use a number and a unit (${unitList}), e.g. ${dialect.example}` };
  let total: number;
  let largest: U | undefined;
  if (dialect.bareNumber !== undefined && /^\d+$/.test(text)) {
    total = Number(text) * DURATION_UNIT_MS[dialect.bareNumber];
    largest = dialect.bareNumber;
  } else {
    const re = grammar(dialect);
    re.lastIndex = 0;
    total = 0;
    let pos = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      const unit = m[2] as U;
      total += Number(m[1]) * DURATION_UNIT_MS[unit];
      if (largest === undefined || DURATION_UNIT_MS[unit] > DURATION_UNIT_MS[largest]) largest = unit;
      pos = re.lastIndex;
    }
    if (largest === undefined || pos !== text.length) return notOne;
  }
  if (!Number.isFinite(total) || total > Number.MAX_SAFE_INTEGER) return { error: `"${text}" is too long` };
  if (total <= 0 && !dialect.zero) return { error: `"${text}" must be longer than zero` };
  if (dialect.multipleOfMs !== undefined && total % dialect.multipleOfMs !== 0) {
    return { error: `"${text}" is not a whole number of ${dialect.multipleOfMs === 1000 ? 'seconds' : `${dialect.multipleOfMs} ms`}` };
  }
  return { ms: total, unit: largest };
}
