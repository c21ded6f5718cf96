/**
 * A small, strict parser of the Prometheus text exposition format (0.0.4), for tests that scrape
 * /metrics: every line must be a HELP, a TYPE or a sample of a declared family, label values are
 * unescaped, values are Go-style floats. Anything else throws, naming the line.
 */
export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const SUFFIXES: Record<MetricType, string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, i) => {
    const where = `line ${i + 1} ${JSON.stringify(line)}`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) {
        if (/^# (HELP|TYPE)\b/.test(line)) throw new Error(`${where}: malformed ${line.slice(2, 6)}`);
        return; // a plain comment
      }
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`${where}: invalid metric name`);
      const fam = families.get(name) ?? { name, type: 'untyped' as MetricType, help: '', samples: [] };
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`${where}: unknown type`);
        if (fam.samples.length > 0) throw new Error(`${where}: TYPE after samples`);
        fam.type = rest as MetricType;
      } else fam.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      families.set(name, fam);
      return;
    }
    const sample = parseSample(line, where);
    const fam = familyOf(families, sample.name);
    if (!fam) throw new Error(`${where}: sample of an undeclared family`);
    fam.samples.push(sample);
  });
  return families;
}

function familyOf(families: Map<string, Family>, sampleName: string): Family | undefined {
  for (const fam of families.values()) {
    for (const suffix of SUFFIXES[fam.type]) if (fam.name + suffix === sampleName) return fam;
  }
  return undefined;
}

function parseSample(line: string, where: string): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
  if (!m) throw new Error(`${where}: no metric name`);
  const name = m[1] as string;
  let pos = name.length;
  const labels: Record<string, string> = {};
  if (line[pos] === '{') {
    pos++;
    while (line[pos] !== '}') {
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(pos));
      if (!lm || !LABEL.test(lm[1] as string)) throw new Error(`${where}: malformed label at column ${pos + 1}`);
      const label = lm[1] as string;
      if (label in labels) throw new Error(`${where}: duplicate label ${label}`);
      pos += lm[0].length;
      let value = '';
      for (;;) {
        const c = line[pos];
        if (c === undefined) throw new Error(`${where}: unterminated label value`);
        pos++;
        if (c === '"') break;
        if (c === '\\') {
          const e = line[pos++];
          if (e === 'n') value += '\n';
          else if (e === '\\' || e === '"') value += e;
          else throw new Error(`${where}: invalid escape \\${e ?? ''}`);
        } else value += c;
      }
      labels[label] = value;
      if (line[pos] === ',') pos++;
      else if (line[pos] !== '}') throw new Error(`${where}: expected , or } at column ${pos + 1}`);
    }
    pos++;
  }
  const rest = line.slice(pos);
  const vm = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
  if (!vm) throw new Error(`${where}: expected " VALUE [TIMESTAMP]"`);
  return { name, labels, value: parseValue(vm[1] as string, where) };
}

function parseValue(text: string, where: string): number {
  // Go's ParseFloat, which Prometheus uses, takes NaN and Inf in any case (prom-client writes "Nan").
  if (/^\+?inf$/i.test(text)) return Infinity;
  if (/^-inf$/i.test(text)) return -Infinity;
  if (/^nan$/i.test(text)) return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${where}: invalid value ${text}`);
  return Number(text);
}

/** The value of the one sample of `name` whose labels include `labels`; 0 when there is none (an unmoved counter). */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const fam = familyOf(families, name);
  if (!fam) throw new Error(`no family for ${name}`);
  const hits = fam.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length > 1) throw new Error(`${hits.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return hits[0]?.value ?? 0;
}
