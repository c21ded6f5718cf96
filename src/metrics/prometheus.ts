/**
 * The Prometheus side of the Observer: one registry per service instance (never prom-client's
 * global one, so that several instances in one process, as in tests, count separately).
 * Counters that other modules already keep (the evidence cache's) and the current revisions are
 * read at scrape time instead of being pushed.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Observer } from '../shared/observer';
import type { WorkerMetrics } from './aggregate';

/** What is read at scrape time. */
export interface ScrapeSources {
  cache?: { hits: number; misses: number; evictions: number };
  trustRevision?: () => string;
  policyRevision?: () => string;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class PrometheusMetrics implements Observer {
  readonly registry = new Registry();
  private readonly rpcs: Counter<'method' | 'status'>;
  private readonly rpcSeconds: Histogram<'method' | 'status'>;
  private readonly decisions: Counter<'action' | 'rule' | 'mode' | 'result'>;
  private readonly registryRequests: Counter<'method' | 'status'>;
  private readonly registrySeconds: Histogram<'method' | 'status'>;
  private readonly webhookRequests: Counter<'outcome'>;
  private readonly gateRequests: Counter<'outcome'>;
  private readonly storeSeconds: Histogram<'operation' | 'backend'>;

  constructor(sources: ScrapeSources = {}) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // Every metric is registered in this instance's registry only; latencies share one bucket scale.
    const counter = <L extends string>(name: string, help: string, labelNames: L[]): Counter<L> =>
      new Counter({ name, help, labelNames, registers });
    const latency = <L extends string>(name: string, help: string, labelNames: L[], buckets = LATENCY_BUCKETS): Histogram<L> =>
      new Histogram({ name, help, labelNames, buckets, registers });
    this.rpcs = counter('countersign_rpc_requests_total', 'gRPC calls by method and status', ['method', 'status']);
    this.rpcSeconds = latency('countersign_rpc_duration_seconds', 'gRPC call latency by method and status', ['method', 'status']);
    this.decisions = counter('countersign_decisions_total', 'Verify decisions by action, matched rule, mode and result', [
      'action',
      'rule',
      'mode',
      'result',
    ]);
    this.registryRequests = counter(
      'countersign_registry_requests_total',
      'registry HTTP requests by method and response status (error: no response)',
      ['method', 'status'],
    );
    this.registrySeconds = latency('countersign_registry_request_duration_seconds', 'registry HTTP request duration by method and status', [
      'method',
      'status',
    ]);
    this.webhookRequests = counter('countersign_admission_requests_total', 'admission reviews by outcome', ['outcome']);
    this.gateRequests = counter('countersign_gate_requests_total', 'registry gate requests by outcome', ['outcome']);
    this.storeSeconds = latency(
      'countersign_store_operation_duration_seconds',
      'store latency: queries and whole write transactions, by backend (sqlite, postgres)',
      ['operation', 'backend'],
      [0.0001, 0.00025, 0.0005, ...LATENCY_BUCKETS],
    );
    const cache = sources.cache;
    for (const [name, read] of [
      ['hits', () => cache?.hits ?? 0],
      ['misses', () => cache?.misses ?? 0],
      ['evictions', () => cache?.evictions ?? 0],
    ] as const) {
      new Counter({
        name: `countersign_evidence_cache_${name}_total`,
        help: `evidence cache ${name}`,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    }
    const revision = (name: string, help: string, read: (() => string) | undefined): void => {
      if (!read) return;
      new Gauge({
        name,
        help,
        labelNames: ['revision'],
        registers,
        // Summed over workers it would count them; each revision some worker holds shows as 1.
        aggregator: 'max',
        collect() {
          this.reset();
          this.set({ revision: read() }, 1);
        },
      });
    };
    revision('countersign_trust_revision_info', 'the trust store revision in force (value 1)', sources.trustRevision);
    revision('countersign_policy_revision_info', 'the policy revision in force (value 1)', sources.policyRevision);
  }

  rpc(method: string, status: string, seconds: number): void {
    this.rpcs.inc({ method, status });
    this.rpcSeconds.observe({ method, status }, seconds);
  }

  decision(d: { action: string; rule: string; mode: string; result: 'allow' | 'deny' }): void {
    this.decisions.inc(d);
  }

  registryRequest(method: string, status: string, seconds: number): void {
    this.registryRequests.inc({ method, status });
    this.registrySeconds.observe({ method, status }, seconds);
  }

  webhook(outcome: string): void {
    this.webhookRequests.inc({ outcome });
  }

  gate(outcome: string): void {
    this.gateRequests.inc({ outcome });
  }

  storeOperation(operation: 'query' | 'transaction', backend: 'sqlite' | 'postgres', seconds: number): void {
    this.storeSeconds.observe({ operation, backend }, seconds);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** The registry as JSON, for the primary of `serve --workers N` to add up (aggregate.ts). */
  json(): Promise<WorkerMetrics> {
    return this.registry.getMetricsAsJSON();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** This process's registry as /metrics serves it (MetricsSource). */
  async collect(): Promise<{ text: string; contentType: string }> {
    return { text: await this.text(), contentType: this.contentType };
  }
}
