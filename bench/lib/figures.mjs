// What the bench sections measure and print with: latency statistics, the one-line row, a number's
// format, and a process's CPU time. One definition, so every section's figures mean the same.
import { readdirSync, readFileSync } from 'node:fs';

/** The p-quantile (0..1) of samples sorted ascending (the sample at rank floor(p·n), the last for p = 1). */
export function quantile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** Latency samples in ms → count, mean, p50, p99 and the sequential rate they imply. */
export function stats(samplesMs) {
  const s = [...samplesMs].sort((a, b) => a - b);
  const total = s.reduce((a, b) => a + b, 0);
  return { n: s.length, mean: total / s.length, p50: quantile(s, 0.5), p99: quantile(s, 0.99), opsPerSec: (1000 * s.length) / total };
}

/** Three decimals below 1, two below 100, none above. */
export const fmt = (x) => (x < 1 ? x.toFixed(3) : x < 100 ? x.toFixed(2) : x.toFixed(0));

/** One row of `stats` figures under `name`. */
export function row(name, st, out = process.stdout) {
  out.write(
    `${name.padEnd(58)} n=${String(st.n).padStart(5)}  p50=${fmt(st.p50).padStart(8)} ms  p99=${fmt(st.p99).padStart(8)} ms  ${fmt(st.opsPerSec).padStart(8)} ops/s\n`,
  );
}

/**
 * µs of CPU a process has used so far: the sum over its threads of the time each spent on a CPU,
 * from /proc/<pid>/task/<tid>/schedstat (Linux, nanoseconds; the scheduler's own accounting, so
 * user and system time alike). /proc/<pid>/stat counts in 10 ms ticks, too coarse for a path that
 * costs ~100 µs a call over a few thousand calls. Falls back to it where schedstat is missing.
 * A thread that exits between two readings takes its time with it (the service's threads live as
 * long as the process).
 */
export function cpuUs(pid) {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // The thread ended between the listing and the read.
      }
    }
    if (ns > 0) return ns / 1000;
  } catch {
    // No /proc/<pid>/task: the tick count below.
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may itself hold spaces or ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 1e4; // utime + stime, in ticks of 10 000 µs (USER_HZ = 100)
}
