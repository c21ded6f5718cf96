/**
 * Shared test material for the admission adapter: the third-party AdmissionReview vectors
 * (shared/vectors INDEX.md §8) and a fake verifier that records its calls.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type {
  AdmissionLogger,
  AdmissionRequest,
  AdmissionVerifier,
  AdmissionVerifyInput,
  AdmissionVerifyResult,
} from '../../../src/admission';

export const VECTORS_DIR = path.resolve(__dirname, '../../../../shared/vectors');
export const CONNAISSEUR_DIR = path.join(VECTORS_DIR, 'connaisseur/test/testdata/admission_requests');
export const KUBEWARDEN_DIR = path.join(VECTORS_DIR, 'verify-image-signatures/test_data');

/** A container of a vector's pod spec. */
export interface ContainerFixture {
  name: string;
  image: string;
}

/** A pod spec as the vectors write it: the lists the tests read or extend. */
export interface PodSpecFixture {
  containers: ContainerFixture[];
  initContainers?: ContainerFixture[];
  ephemeralContainers?: ContainerFixture[];
}

/**
 * A vector's object: a Pod (`spec` is the pod spec) or a workload (`spec.template.spec` is). Both
 * are typed, since each test knows which kind of file it reads; what it reads is still asserted.
 */
export interface ObjectFixture {
  kind?: string;
  spec: PodSpecFixture & { template: { spec: PodSpecFixture } };
}

/** A vector's AdmissionReview, typed as far as the tests read and edit it (the adapter itself reads it as unknown). */
export interface ReviewFixture {
  apiVersion: string;
  kind: string;
  request: Omit<AdmissionRequest, 'object' | 'oldObject'> & { object: ObjectFixture; oldObject: ObjectFixture };
}

/** A Connaisseur vector: a full AdmissionReview, parsed. */
export function connaisseur(file: string): ReviewFixture {
  return JSON.parse(fs.readFileSync(path.join(CONNAISSEUR_DIR, file), 'utf8')) as ReviewFixture;
}

export function connaisseurRaw(file: string): string {
  return fs.readFileSync(path.join(CONNAISSEUR_DIR, file), 'utf8');
}

/** A kubewarden vector (a bare AdmissionRequest) wrapped into a v1 AdmissionReview. */
export function kubewarden(file: string): ReviewFixture {
  const request = JSON.parse(fs.readFileSync(path.join(KUBEWARDEN_DIR, file), 'utf8')) as ReviewFixture['request'];
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request };
}

export function kubewardenFiles(): string[] {
  return fs
    .readdirSync(KUBEWARDEN_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort();
}

/** What the fake answers for an image. */
export type FakeDecision =
  { allowed: boolean; reasons?: string[]; warnings?: string[]; mode?: string; digest?: string } | { throws: Error } | { hang: true };

export class FakeVerifier implements AdmissionVerifier {
  readonly calls: AdmissionVerifyInput[] = [];
  /** Times (ms since epoch) at which each call started. */
  readonly started: number[] = [];
  /** How many calls had finished (answered or thrown) when each call started, in call order. */
  readonly finishedBeforeStart: number[] = [];
  private finished = 0;

  constructor(
    private readonly decisions: Record<string, FakeDecision> = {},
    private readonly opts: { delayMs?: number; fallback?: FakeDecision } = {},
  ) {}

  async verify(input: AdmissionVerifyInput): Promise<AdmissionVerifyResult> {
    this.calls.push(input);
    this.started.push(Date.now());
    this.finishedBeforeStart.push(this.finished);
    const d = this.decisions[input.image] ?? this.opts.fallback ?? { allowed: true };
    if ('hang' in d) return new Promise<never>(() => undefined);
    try {
      if (this.opts.delayMs) await new Promise((r) => setTimeout(r, this.opts.delayMs));
    } finally {
      this.finished++;
    }
    if ('throws' in d) throw d.throws;
    return {
      allowed: d.allowed,
      reasons: d.reasons ?? (d.allowed ? [`signed by key test`] : [`no signature by a trusted key was found for ${input.image}`]),
      warnings: d.warnings ?? [],
      digest: d.digest ?? `sha256:${'a'.repeat(64)}`,
      image: input.image,
      rule: 'test-rule',
      mode: d.mode ?? 'enforce',
    };
  }

  images(): string[] {
    return this.calls.map((c) => c.image);
  }
}

export class MemoryLogger implements AdmissionLogger {
  /** What was logged: the adapter logs plain objects of fields. */
  readonly lines: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> = [];
  info(obj: object, msg?: string): void {
    this.lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg });
  }
  warn(obj: object, msg?: string): void {
    this.lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg });
  }
  error(obj: object, msg?: string): void {
    this.lines.push({ level: 'error', obj: obj as Record<string, unknown>, msg });
  }
  reviews(): Array<Record<string, unknown>> {
    return this.lines.filter((l) => l.msg === 'admission review').map((l) => l.obj);
  }
}
