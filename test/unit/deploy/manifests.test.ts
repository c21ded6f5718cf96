/**
 * The deployment material in deploy/ is checked, not only parsed: every Kubernetes document
 * against the Kubernetes (and cert-manager) OpenAPI schemas through kubernetes-models, the facts
 * that span files (kustomization, webhooks ↔ Certificate ↔ Service ↔ Deployment, probes ↔ ports,
 * container args ↔ the CLI, ConfigMap ↔ the strict config loader), and the Dockerfile statically
 * (no image can be built or pulled here).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import * as core from 'kubernetes-models/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as networking from 'kubernetes-models/networking.k8s.io/v1';
import * as admission from 'kubernetes-models/admissionregistration.k8s.io/v1';
import * as certManager from '@kubernetes-models/cert-manager/cert-manager.io/v1';
import { loadConfig } from '../../../src/config/config';
import { connectionFromEnv } from '../../../src/cli/client';
import { GrpcVerifier } from '../../../src/gate/grpc-verifier';
import { usageOf } from '../../../src/cli/usage';
import { parseWorkers } from '../../../src/cluster/serve-cluster';
import { servingHeapFlags } from '../../../src/cluster/heap-flags';

const ROOT = path.resolve(__dirname, '../../..');
const K8S = path.join(ROOT, 'deploy', 'kubernetes');
const NAMESPACE = 'countersign';

/** A manifest as written: the fields every test reads, the rest left open. */
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}
type Validator = new (data: never) => { validate(): void };

/** Every kind the manifests may use, with its schema; an unknown kind fails the test. */
const MODELS: Record<string, Validator> = {
  'v1/Namespace': core.Namespace,
  'v1/ServiceAccount': core.ServiceAccount,
  'v1/ConfigMap': core.ConfigMap,
  'v1/Service': core.Service,
  'apps/v1/Deployment': apps.Deployment,
  'policy/v1/PodDisruptionBudget': policy.PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': networking.NetworkPolicy,
  'admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration': admission.ValidatingWebhookConfiguration,
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': admission.MutatingWebhookConfiguration,
  'cert-manager.io/v1/Issuer': certManager.Issuer,
  'cert-manager.io/v1/Certificate': certManager.Certificate,
};

/** Throws the schema's complaint (or "no schema") for a manifest that does not conform. */
function validate(doc: Manifest): void {
  const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
  if (!Model) throw new Error(`no schema for ${doc.apiVersion} ${doc.kind}`);
  new Model(doc as never).validate();
}

function parseFile(file: string): Manifest[] {
  // YAML 1.1, as Kubernetes reads manifests (sigs.k8s.io/yaml): `defaultMode: 0400` is octal 256,
  // where the yaml package's default (1.2) would read decimal 400 (mode 0620).
  const docs = parseAllDocuments(readFileSync(path.join(K8S, file), 'utf8'), { version: '1.1' });
  return docs
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]!.message}`);
      return d.toJSON() as Manifest | null; // null: an empty document (a trailing `---`)
    })
    .filter((d): d is Manifest => d !== null);
}

const files = readdirSync(K8S)
  .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
  .sort();
const byFile = new Map(files.map((f) => [f, parseFile(f)]));
const all = [...byFile.values()].flat();
const ofKind = <T = Manifest>(kind: string) => all.filter((d) => d.kind === kind) as unknown as T[];
const named = (kind: string, name: string) => all.find((d) => d.kind === kind && d.metadata.name === name);

interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>;
  ports?: Array<{ name?: string; containerPort: number }>;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
  };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface Probe {
  grpc?: { port: number };
  tcpSocket?: { port: number | string };
  httpGet?: unknown;
}
interface DeploymentDoc extends Manifest {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        containers: Container[];
        volumes?: Array<{ name: string; configMap?: { name: string }; secret?: { secretName: string; defaultMode?: number } }>;
        securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
        automountServiceAccountToken?: boolean;
      };
    };
  };
}
interface Webhook {
  name: string;
  failurePolicy?: string;
  sideEffects?: string;
  timeoutSeconds?: number;
  reinvocationPolicy?: string;
  clientConfig: { service?: { namespace: string; name: string; port?: number; path?: string }; caBundle?: string };
  namespaceSelector?: {
    matchLabels?: Record<string, string>;
    matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
  };
  rules?: unknown[];
}
interface WebhookConfiguration extends Manifest {
  webhooks: Webhook[];
}

/** The ConfigMap's config documents are written to a temp dir, so the real loader reads them. */
const configDir = mkdtempSync(path.join(os.tmpdir(), 'countersign-deploy-'));
afterAll(() => rmSync(configDir, { recursive: true, force: true }));
function configFile(name: string): string {
  const map = named('ConfigMap', 'countersign-config') as (Manifest & { data: Record<string, string> }) | undefined;
  const text = map?.data[name];
  if (text === undefined) throw new Error(`ConfigMap countersign-config has no ${name}`);
  const file = path.join(configDir, name);
  writeFileSync(file, text);
  return file;
}
function configNameOf(container: Container): string {
  return path.basename(container.args![container.args!.indexOf('--config') + 1]!);
}
/** The value of `--flag VALUE` (or `--flag=VALUE`) in a container's args. */
function argOf(container: Container, flag: string): string | undefined {
  const args = container.args ?? [];
  const joined = args.find((a) => a.startsWith(`${flag}=`));
  if (joined) return joined.slice(flag.length + 1);
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}
/** The configuration a container's process runs with: its config file, then the flags that override it (as the CLI applies them). */
function effectiveConfig(container: Container, env: NodeJS.ProcessEnv = {}) {
  const gateListen = argOf(container, container.args![0] === 'gate' ? '--listen' : '--gate-listen');
  const gateUpstream = argOf(container, container.args![0] === 'gate' ? '--upstream' : '--gate-upstream');
  return loadConfig(
    {
      configFile: configFile(configNameOf(container)),
      ...(gateListen ? { gateListen } : {}),
      ...(gateUpstream ? { gateUpstream } : {}),
    },
    env,
    os.tmpdir(),
  );
}
/** Whether a webhook's namespaceSelector selects the namespace `name` (its labels: the API server's immutable name label). */
function selectsNamespace(selector: Webhook['namespaceSelector'], name: string): boolean {
  const labels: Record<string, string> = { 'kubernetes.io/metadata.name': name };
  for (const [k, v] of Object.entries(selector?.matchLabels ?? {})) if (labels[k] !== v) return false;
  return (selector?.matchExpressions ?? []).every((e) => {
    if (e.operator === 'In') return (e.values ?? []).includes(labels[e.key]!);
    if (e.operator === 'NotIn') return !(e.values ?? []).includes(labels[e.key]!);
    throw new Error(`operator ${e.operator} not handled here`);
  });
}
function containersBehind(service: Manifest & { spec?: unknown }): Container[] {
  const selector = (service as unknown as { spec: { selector: Record<string, string> } }).spec.selector;
  return ofKind<DeploymentDoc>('Deployment')
    .filter((d) => Object.entries(selector).every(([k, v]) => d.spec.template.metadata.labels[k] === v))
    .flatMap((d) => d.spec.template.spec.containers);
}

describe('deploy/kubernetes: every document conforms to its Kubernetes schema', () => {
  it('has the documents the deployment needs', () => {
    expect(
      ofKind('Deployment')
        .map((d) => d.metadata.name)
        .sort(),
    ).toEqual(['countersign', 'countersign-gate', 'registry']);
    for (const kind of [
      'Namespace',
      'ServiceAccount',
      'ConfigMap',
      'Service',
      'PodDisruptionBudget',
      'NetworkPolicy',
      'Issuer',
      'Certificate',
      'ValidatingWebhookConfiguration',
      'MutatingWebhookConfiguration',
    ]) {
      expect(ofKind(kind).length).toBeGreaterThan(0);
    }
  });

  it.each(files)('%s validates', (file) => {
    for (const doc of byFile.get(file)!) expect(() => validate(doc)).not.toThrow();
  });

  it('rejects what a broken manifest would carry (the validation can fail)', () => {
    const deployment = structuredClone(named('Deployment', 'countersign')!) as DeploymentDoc;
    expect(() => validate(deployment)).not.toThrow();
    const wrongType = structuredClone(deployment) as unknown as { spec: { replicas: unknown } };
    wrongType.spec.replicas = 'two';
    expect(() => validate(wrongType as unknown as Manifest)).toThrow(/replicas must be integer/);
    const badProbe = structuredClone(deployment);
    (badProbe.spec.template.spec.containers[0]!.readinessProbe as unknown as { grpc: unknown }).grpc = { port: 'grpc' };
    expect(() => validate(badProbe)).toThrow(/port must be integer/);
    const certificate = structuredClone(named('Certificate', 'countersign-webhook')!) as Manifest & { spec: Record<string, unknown> };
    certificate.spec.dnsNames = 'countersign.countersign.svc';
    expect(() => validate(certificate)).toThrow(/dnsNames must be array/);
    expect(() => validate({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } })).toThrow(/no schema/);
  });

  it('puts every namespaced object in the service namespace', () => {
    const clusterScoped = new Set(['Namespace', 'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']);
    for (const doc of all) {
      if (clusterScoped.has(doc.kind)) expect(doc.metadata.namespace).toBeUndefined();
      else
        expect(`${doc.kind}/${doc.metadata.name}: ${String(doc.metadata.namespace)}`).toBe(
          `${doc.kind}/${doc.metadata.name}: ${NAMESPACE}`,
        );
    }
    expect(named('Namespace', NAMESPACE)).toBeDefined();
  });
});

describe('deploy/kubernetes/kustomization.yaml', () => {
  it('lists every manifest file, and nothing that is not there', () => {
    const kustomization = parseFile('kustomization.yaml')[0] as unknown as { kind: string; resources: string[] };
    expect(kustomization.kind).toBe('Kustomization');
    expect([...kustomization.resources].sort()).toEqual(files);
    expect(new Set(kustomization.resources).size).toBe(kustomization.resources.length);
  });
});

describe('the webhooks', () => {
  const configurations = [
    ...ofKind<WebhookConfiguration>('ValidatingWebhookConfiguration'),
    ...ofKind<WebhookConfiguration>('MutatingWebhookConfiguration'),
  ];
  const service = loadConfig({ configFile: configFile('countersign.yaml') }, {}, os.tmpdir());
  const webhooks = configurations.flatMap((c) => c.webhooks.map((w) => ({ configuration: c, webhook: w })));

  it('are two configurations, validating (/validate) and mutating (/mutate, reinvoked when others change the object)', () => {
    expect(configurations.map((c) => c.kind).sort()).toEqual(['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);
    // Each has two entries (every namespace but two; kube-system), calling the same path.
    const paths = [
      ...new Set(webhooks.map(({ configuration, webhook }) => `${configuration.kind}:${String(webhook.clientConfig.service?.path)}`)),
    ].sort();
    expect(paths).toEqual(['MutatingWebhookConfiguration:/mutate', 'ValidatingWebhookConfiguration:/validate']);
    for (const configuration of configurations) expect(configuration.webhooks).toHaveLength(2);
    for (const webhook of ofKind<WebhookConfiguration>('MutatingWebhookConfiguration').flatMap((c) => c.webhooks)) {
      expect(webhook.reinvocationPolicy).toBe('IfNeeded');
    }
  });

  it.each(webhooks.map(({ configuration, webhook }) => [`${configuration.kind} ${webhook.name}`, webhook] as const))(
    '%s fails closed (open only for kube-system alone), has no side effects, and answers in time',
    (_, webhook) => {
      // The entry for kube-system alone admits while Countersign cannot answer, so the CNI and DNS
      // pods there can be recreated while it is down (it needs them); every other entry fails closed.
      const kubeSystemOnly = ['kube-system', 'default', 'team-a'].map((ns) => selectsNamespace(webhook.namespaceSelector, ns));
      if (kubeSystemOnly[0] && !kubeSystemOnly[1] && !kubeSystemOnly[2]) {
        expect(webhook.failurePolicy).toBe('Ignore');
        expect(webhook.namespaceSelector).toEqual({
          matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['kube-system'] }],
        });
      } else {
        expect(webhook.failurePolicy).toBe('Fail');
        expect(selectsNamespace(webhook.namespaceSelector, 'kube-system')).toBe(false);
      }
      expect(webhook.sideEffects).toBe('None');
      // Below the API server's 30 s maximum, above the service's own deadlines (the review's
      // default deadline and the longest Verify), so Countersign answers before the API server gives up.
      expect(webhook.timeoutSeconds).toBeDefined();
      expect(webhook.timeoutSeconds).toBeLessThan(30);
      expect(webhook.timeoutSeconds! * 1000).toBeGreaterThan(service.admission.timeoutMs);
      expect(webhook.timeoutSeconds! * 1000).toBeGreaterThan(service.verification.maxDurationMs);
    },
  );

  it.each(webhooks.map(({ webhook }) => [webhook.name, webhook] as const))(
    '%s excludes the service namespace and calls the Service on its webhook port',
    (_, webhook) => {
      expect(selectsNamespace(webhook.namespaceSelector, NAMESPACE)).toBe(false);
      const target = webhook.clientConfig.service!;
      expect(target.namespace).toBe(NAMESPACE);
      const svc = named('Service', target.name) as
        (Manifest & { spec: { ports: Array<{ port: number; targetPort: string | number }> } }) | undefined;
      expect(svc).toBeDefined();
      const port = svc!.spec.ports.find((p) => p.port === target.port);
      expect(port).toBeDefined();
      // The Service port leads to the admission server's listen port.
      const container = containersBehind(svc!)[0]!;
      const containerPort = container.ports!.find((p) => p.name === port!.targetPort || p.containerPort === port!.targetPort)!;
      expect(containerPort.containerPort).toBe(Number(service.admission.listen!.split(':').pop()));
    },
  );

  it.each(configurations.map((c) => [c.kind, c] as const))(
    '%s gets its CA from the webhook Certificate, which covers the Service name',
    (_, configuration) => {
      const ref = configuration.metadata.annotations?.['cert-manager.io/inject-ca-from'];
      expect(ref).toBe(`${NAMESPACE}/countersign-webhook`);
      const [namespace, name] = ref!.split('/');
      const certificate = all.find((d) => d.kind === 'Certificate' && d.metadata.namespace === namespace && d.metadata.name === name) as
        (Manifest & { spec: { secretName: string; dnsNames: string[]; issuerRef: { name: string; kind: string } } }) | undefined;
      expect(certificate).toBeDefined();
      for (const webhook of configuration.webhooks) {
        expect(webhook.clientConfig.caBundle).toBeUndefined();
        expect(certificate!.spec.dnsNames).toContain(
          `${webhook.clientConfig.service!.name}.${webhook.clientConfig.service!.namespace}.svc`,
        );
      }
      expect(named(certificate!.spec.issuerRef.kind, certificate!.spec.issuerRef.name)).toBeDefined();
      // The service mounts that Certificate's Secret where its config reads the webhook key pair.
      const deployment = named('Deployment', 'countersign') as DeploymentDoc;
      const volume = deployment.spec.template.spec.volumes!.find((v) => v.secret?.secretName === certificate!.spec.secretName)!;
      expect(volume).toBeDefined();
      const mount = deployment.spec.template.spec.containers[0]!.volumeMounts!.find((m) => m.name === volume.name)!;
      expect(service.admission.tlsCertFile).toBe(path.join(mount.mountPath, 'tls.crt'));
      expect(service.admission.tlsKeyFile).toBe(path.join(mount.mountPath, 'tls.key'));
    },
  );
});

/** A Kubernetes memory quantity (512Mi, 1Gi, 300M) in bytes. */
function quantityBytes(q: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|K|M|G)?$/.exec(q);
  if (!m) throw new Error(`not a memory quantity: ${q}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, K: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}

describe('the Deployments', () => {
  const deployments = ofKind<DeploymentDoc>('Deployment');
  const countersign = deployments.filter((d) => d.metadata.name !== 'registry');

  it.each(deployments.map((d) => [d.metadata.name, d] as const))(
    '%s: the selector matches the pod labels, and a Service selects its pods',
    (name, deployment) => {
      const labels = deployment.spec.template.metadata.labels;
      for (const [k, v] of Object.entries(deployment.spec.selector.matchLabels)) expect(labels[k]).toBe(v);
      const services = ofKind<Manifest & { spec: { selector: Record<string, string> } }>('Service').filter((s) =>
        Object.entries(s.spec.selector).every(([k, v]) => labels[k] === v),
      );
      expect(services.map((s) => s.metadata.name)).toEqual([name]);
      // Every Service port's target is a port the container declares.
      for (const svc of services) {
        for (const port of (svc as unknown as { spec: { ports: Array<{ targetPort: string | number }> } }).spec.ports) {
          const declared = deployment.spec.template.spec.containers.flatMap((c) => c.ports ?? []);
          expect(declared.some((p) => p.name === port.targetPort || p.containerPort === port.targetPort)).toBe(true);
        }
      }
    },
  );

  it.each(deployments.map((d) => [d.metadata.name, d] as const))(
    '%s runs as non-root, read-only, with no capabilities and no API token',
    (_, deployment) => {
      const pod = deployment.spec.template.spec;
      expect(pod.securityContext?.runAsNonRoot).toBe(true);
      expect(pod.securityContext?.runAsUser).toBeGreaterThan(0);
      expect(pod.automountServiceAccountToken).toBe(false);
      for (const container of pod.containers) {
        expect(container.securityContext).toMatchObject({
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
        });
        expect(container.resources?.requests?.memory).toBeDefined();
        expect(container.resources?.limits?.memory).toBeDefined();
      }
    },
  );

  it.each(countersign.map((d) => [d.metadata.name, d] as const))(
    '%s: two replicas, a PodDisruptionBudget, probes on the port it serves',
    (_, deployment) => {
      expect(deployment.spec.replicas).toBe(2);
      const labels = deployment.spec.template.metadata.labels;
      const budgets = ofKind<Manifest & { spec: { minAvailable?: number; selector: { matchLabels: Record<string, string> } } }>(
        'PodDisruptionBudget',
      ).filter((b) => Object.entries(b.spec.selector.matchLabels).every(([k, v]) => labels[k] === v));
      expect(budgets).toHaveLength(1);
      expect(budgets[0]!.spec.minAvailable).toBeLessThan(deployment.spec.replicas!);
      const container = deployment.spec.template.spec.containers[0]!;
      const config = effectiveConfig(container);
      const probes = [container.readinessProbe, container.livenessProbe, container.startupProbe];
      if (container.args![0] === 'serve') {
        // gRPC health (grpc.health.v1.Health) on the gRPC port.
        const grpcPort = Number(config.listen.split(':').pop());
        for (const probe of probes) {
          expect(probe?.grpc?.port).toBe(grpcPort);
          expect(container.ports!.map((p) => p.containerPort)).toContain(probe!.grpc!.port);
        }
        // Kubernetes' gRPC probe speaks plaintext: the gRPC listener must not be TLS-only.
        expect(config.auth.tls).toBeUndefined();
      } else {
        // `countersign gate` serves no gRPC: a TCP connect to its registry listener.
        const listenPort = Number(config.gate.listen!.split(':').pop());
        for (const probe of probes) {
          expect(probe?.tcpSocket?.port).toBe(listenPort);
          expect(container.ports!.map((p) => p.containerPort)).toContain(listenPort);
        }
      }
    },
  );

  it.each(countersign.map((d) => [d.metadata.name, d] as const))(
    '%s: only flags the CLI accepts, a config the strict loader accepts, files from the volumes',
    (_, deployment) => {
      const container = deployment.spec.template.spec.containers[0]!;
      const [command, ...rest] = container.args!;
      expect(['serve', 'gate']).toContain(command);
      const accepted = new Set(usageOf(command!).match(/--[a-z][a-z-]*/g));
      // The command's own module under src/cli/commands/ declares its option parser.
      const parserSource = readFileSync(path.join(ROOT, 'src', 'cli', 'commands', `${String(command)}.ts`), 'utf8');
      for (const arg of rest.filter((a) => a.startsWith('--'))) {
        expect(`${String(command)} ${arg}: ${accepted.has(arg.split('=')[0]!)}`).toBe(`${String(command)} ${arg}: true`);
        // …and that the command's parser really declares (the usage text could drift from it).
        const key = arg.slice(2).split('=')[0]!;
        expect(`${arg}: ${parserSource.includes(`'${key}': {`) || parserSource.includes(`  ${key}: {`)}`).toBe(`${arg}: true`);
      }
      // The config file is mounted from the ConfigMap that holds it.
      const file = container.args![container.args!.indexOf('--config') + 1]!;
      const mountOf = (p: string) => container.volumeMounts!.find((m) => p.startsWith(`${m.mountPath}/`));
      const volumes = deployment.spec.template.spec.volumes!;
      const configVolume = volumes.find((v) => v.name === mountOf(file)!.name)!;
      expect(configVolume.configMap?.name).toBe('countersign-config');
      // Every file the config reads lies on a mounted volume; the state serve writes too.
      const config = effectiveConfig(container);
      const read = [
        config.kekFile,
        config.trustDir,
        config.admission.tlsCertFile,
        config.admission.tlsKeyFile,
        config.gate.tlsCertFile,
        config.gate.tlsKeyFile,
      ].filter((p): p is string => Boolean(p));
      const written = command === 'serve' ? [config.dataDir, config.keysDir] : [];
      for (const p of [...read, ...written]) expect(`${p}: ${Boolean(mountOf(`${p}/`) ?? mountOf(p))}`).toBe(`${p}: true`);
      if (command === 'serve') {
        const kek = volumes.find((v) => v.name === mountOf(config.kekFile!)!.name)!;
        expect(kek.secret?.secretName).toBe('countersign-kek');
        expect(config.auth.mode).toBe('enforce');
      } else {
        // The gate asks the service: it reads no KEK, no keys, no trust directory.
        expect(config.kekFile).toBeUndefined();
        expect(config.trustDir).toBeUndefined();
        expect(volumes.map((v) => v.secret?.secretName)).not.toContain('countersign-kek');
      }
    },
  );

  it.each(deployments.map((d) => [d.metadata.name, d] as const))(
    '%s: every Secret is mounted with mode 0400 (YAML 1.1 octal, as Kubernetes reads it)',
    (_, deployment) => {
      for (const v of (deployment.spec.template.spec.volumes ?? []).filter((x) => x.secret)) {
        expect(`${v.name}: ${String(v.secret!.defaultMode?.toString(8))}`).toBe(`${v.name}: 400`);
      }
    },
  );

  it.each(countersign.filter((d) => d.spec.template.spec.containers[0]!.args![0] === 'serve').map((d) => [d.metadata.name, d] as const))(
    '%s: its replicas share one store from a Secret, and Prometheus scrapes its metrics port',
    (_, deployment) => {
      const container = deployment.spec.template.spec.containers[0]!;
      const env = new Map((container.env ?? []).map((e) => [e.name, e]));
      // More than one replica with a database each would split keys, tokens and the audit chain.
      expect(deployment.spec.replicas).toBeGreaterThan(1);
      expect(env.get('COUNTERSIGN_STORE_URL')?.valueFrom?.secretKeyRef).toEqual({ name: 'countersign-store', key: 'url' });
      const metricsListen = env.get('COUNTERSIGN_METRICS_LISTEN')?.value;
      expect(metricsListen).toBeDefined();
      const port = Number(metricsListen!.split(':').pop());
      expect(container.ports!.find((p) => p.name === 'metrics')?.containerPort).toBe(port);
      const annotations = (deployment.spec.template.metadata as { annotations?: Record<string, string> }).annotations ?? {};
      expect(annotations).toMatchObject({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(port),
        'prometheus.io/path': '/metrics',
      });
      // The strict loader takes the same environment the pod gets.
      const config = loadConfig(
        { configFile: configFile(configNameOf(container)) },
        { COUNTERSIGN_STORE_URL: 'postgres://u:p@db:5432/c', COUNTERSIGN_METRICS_LISTEN: metricsListen! },
        os.tmpdir(),
      );
      expect(config.store?.url).toBe('postgres://u:p@db:5432/c');
      expect(config.metrics.listen).toBe(metricsListen);
    },
  );

  it("countersign serve: its process count is the manifest's, not the node's core count, and its memory limit holds them", () => {
    // Without it, serve forks a worker per core of whatever node the pod lands on (no CPU limit
    // here, so no cgroup quota bounds that): 64 workers of ~250 MB under load against a 512 Mi limit.
    const serve = countersign.filter((d) => d.spec.template.spec.containers[0]!.args![0] === 'serve');
    expect(serve.length).toBeGreaterThan(0);
    for (const deployment of serve) {
      const container = deployment.spec.template.spec.containers[0]! as Container & { env?: Array<{ name: string; value?: string }> };
      const flag = container.args!.find((a) => a.startsWith('--workers'));
      const fromFlag = flag?.includes('=') ? flag.split('=')[1] : flag ? container.args![container.args!.indexOf(flag) + 1] : undefined;
      const fromEnv = container.env?.find((e) => e.name === 'COUNTERSIGN_WORKERS')?.value;
      const workers = parseWorkers(fromFlag ?? fromEnv ?? 'unset: follows the node');
      // One process gets the heap flag its workers would get only from NODE_OPTIONS.
      if (workers === 1) {
        const nodeOptions = container.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
        expect(nodeOptions.split(/\s+/)).toEqual(expect.arrayContaining(servingHeapFlags({ execArgv: [], nodeOptions: undefined })));
      }
      // What one worker holds under load with 100,000 cached digests (README, Benchmarks: RSS rows), and the primary.
      const needed = workers * 256 * 2 ** 20 + (workers > 1 ? 64 * 2 ** 20 : 0);
      expect(quantityBytes(container.resources!.limits!.memory!)).toBeGreaterThanOrEqual(needed);
    }
  });

  it('the gate sits in front of the example registry, over TLS from its Certificate', () => {
    const gate = named('Deployment', 'countersign-gate') as DeploymentDoc;
    const config = effectiveConfig(gate.spec.template.spec.containers[0]!);
    const upstream = new URL(config.gate.upstream!);
    const [host, namespace] = upstream.hostname.split('.');
    expect(namespace).toBe(NAMESPACE);
    const registry = named('Service', host!) as (Manifest & { spec: { ports: Array<{ port: number }> } }) | undefined;
    expect(registry).toBeDefined();
    expect(registry!.spec.ports.map((p) => p.port)).toContain(Number(upstream.port));
    // Countersign reads the registry directly (its evidence) over the plain HTTP it speaks, at the
    // name the gate's Verify requests give (the upstream's host:port: no --registry-name).
    expect(config.gate.registryName).toBeUndefined();
    expect(
      effectiveConfig((named('Deployment', 'countersign') as DeploymentDoc).spec.template.spec.containers[0]!).registry.insecureHosts,
    ).toContain(upstream.host);
    const gateService = named('Service', 'countersign-gate') as Manifest & { spec: { ports: Array<{ targetPort: string | number }> } };
    const container = gate.spec.template.spec.containers[0]!;
    const listenPort = Number(config.gate.listen!.split(':').pop());
    const target = container.ports!.find((p) => p.name === gateService.spec.ports[0]!.targetPort)!;
    expect(target.containerPort).toBe(listenPort);
    const certificate = named('Certificate', 'countersign-gate') as Manifest & { spec: { secretName: string; dnsNames: string[] } };
    expect(certificate.spec.dnsNames).toContain(`countersign-gate.${NAMESPACE}.svc`);
    const tls = gate.spec.template.spec.volumes!.find((v) => v.secret?.secretName === certificate.spec.secretName)!;
    const mount = container.volumeMounts!.find((m) => m.name === tls.name)!;
    expect(config.gate.tlsCertFile).toBe(path.join(mount.mountPath, 'tls.crt'));
    expect(config.gate.allowPlainHttp).toBeFalsy();
  });

  it('the gate is a gRPC client of the service: a verifier token from a Secret, a lock database of its own', () => {
    const gate = (named('Deployment', 'countersign-gate') as DeploymentDoc).spec.template.spec.containers[0]!;
    expect(gate.args![0]).toBe('gate');
    // --server is the service's Service, on the port that leads to serve's gRPC listener.
    const [host, port] = argOf(gate, '--server')!.split(':');
    const [serviceName, namespace, svc] = host!.split('.');
    expect([namespace, svc]).toEqual([NAMESPACE, 'svc']);
    const service = named('Service', serviceName!) as Manifest & {
      spec: { ports: Array<{ name: string; port: number; targetPort: string | number }> };
    };
    const grpcPort = service.spec.ports.find((p) => p.port === Number(port))!;
    expect(grpcPort.name).toBe('grpc');
    const serve = containersBehind(service)[0]!;
    expect(serve.args![0]).toBe('serve');
    const served = serve.ports!.find((p) => p.name === grpcPort.targetPort || p.containerPort === grpcPort.targetPort)!;
    expect(served.containerPort).toBe(Number(effectiveConfig(serve).listen.split(':').pop()));
    // Its credential: a token (the service's auth accepts bearer tokens on every RPC), from a
    // Secret through COUNTERSIGN_TOKEN, never a flag readable in the Deployment.
    expect(effectiveConfig(serve).auth.mode).toBe('enforce');
    expect(gate.args).not.toContain('--token');
    const env = new Map((gate.env ?? []).map((e) => [e.name, e]));
    expect(env.get('COUNTERSIGN_TOKEN')?.valueFrom?.secretKeyRef).toEqual({ name: 'countersign-gate-token', key: 'token' });
    // The gate replicas serialize tag writes through a PostgreSQL of their own: not the service's
    // store (its sealed keys, tokens and audit chain).
    const lock = env.get('COUNTERSIGN_STORE_URL')?.valueFrom?.secretKeyRef;
    expect(lock).toEqual({ name: 'countersign-gate-lock', key: 'url' });
    const config = effectiveConfig(gate, { COUNTERSIGN_STORE_URL: 'postgres://gate:p@db:5432/countersign_gate' });
    expect(config.store?.url).toBe('postgres://gate:p@db:5432/countersign_gate');
    const serviceStore = (serve.env ?? []).find((e) => e.name === 'COUNTERSIGN_STORE_URL')?.valueFrom?.secretKeyRef;
    expect(serviceStore?.name).toBe('countersign-store');
    expect(lock!.name).not.toBe(serviceStore!.name);
    for (const e of gate.env ?? []) expect(e.valueFrom?.secretKeyRef?.name ?? '').not.toMatch(/^countersign-(kek|store)$/);
    // The gate's own client code accepts these settings (as `countersign gate` builds its
    // verifier: the connection from the environment, then the --server address): it refuses
    // plaintext beyond loopback unless told it is intended.
    const podEnv = Object.fromEntries(
      (gate.env ?? []).map((e) => [e.name, e.value ?? (e.name === 'COUNTERSIGN_TOKEN' ? 'cst_placeholder' : 'postgres://u:p@db:5432/x')]),
    );
    const verifier = new GrpcVerifier({ address: argOf(gate, '--server')!, ...connectionFromEnv(podEnv) });
    verifier.close();
  });
});

describe('deploy/Dockerfile (checked statically: nothing here can pull images)', () => {
  const text = readFileSync(path.join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
  // Instructions, comments dropped and continuation lines joined.
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: string[][] = [];
  for (const line of lines) {
    if (/^FROM\s/i.test(line)) stages.push([]);
    stages.at(-1)?.push(line);
  }
  const runtime = stages.at(-1)!;

  it('is multi-stage on Node 24: the build stage has the dev dependencies and compiles', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    // node:24… pinned by digest (attacks-deploy.test.ts checks the pin itself).
    for (const stage of stages) expect(stage[0]).toMatch(/^FROM node:24[-.\w]*(@sha256:[0-9a-f]{64})?(\s+AS\s+\w+)?$/i);
    const build = stages[0]!;
    expect(build.some((l) => /^RUN npm ci\b/.test(l) && !l.includes('--omit=dev'))).toBe(true);
    expect(build.some((l) => /^RUN npm run build\b/.test(l))).toBe(true);
  });

  it('installs only the production dependencies from the committed lockfile in the runtime stage', () => {
    expect(runtime.some((l) => /^COPY package\.json package-lock\.json /.test(l))).toBe(true);
    expect(runtime.some((l) => /^RUN npm ci --omit=dev\b/.test(l))).toBe(true);
    expect(runtime.some((l) => /^RUN npm (install|i)\b/.test(l))).toBe(false);
  });

  it('copies what the service reads at run time: dist/ from the build, proto/, trust/, bin/', () => {
    expect(runtime).toContain('COPY --from=build /src/dist ./dist');
    for (const dir of ['proto', 'trust', 'bin']) expect(runtime).toContain(`COPY ${dir} ./${dir}`);
    // What those are read for, so the list follows the code.
    expect(readFileSync(path.join(ROOT, 'src', 'grpc', 'proto.ts'), 'utf8')).toMatch(/'proto'/);
    expect(readFileSync(path.join(ROOT, 'src', 'verification', 'sigstore', 'trusted-root.ts'), 'utf8')).toMatch(
      /'trust', 'sigstore-public-good\.json'/,
    );
    const dockerignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8');
    for (const needed of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'src/**',
      'proto/**',
      'trust/**',
      'bin/**',
    ]) {
      expect(dockerignore.split('\n')).toContain(`!${needed}`);
    }
  });

  it('runs as a numeric non-root user, with countersign as the entrypoint and no HEALTHCHECK', () => {
    const users = runtime.filter((l) => /^USER\s/i.test(l));
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)!.split(/\s+/)[1]!.split(':')[0]!;
    expect(user).toMatch(/^[1-9]\d*$/);
    const runAsUser = ofKind<DeploymentDoc>('Deployment')
      .filter((d) => d.metadata.name !== 'registry')
      .map((d) => d.spec.template.spec.securityContext?.runAsUser);
    expect(new Set(runAsUser)).toEqual(new Set([Number(user)]));
    expect(runtime.filter((l) => /^ENTRYPOINT\s/i.test(l))).toEqual(['ENTRYPOINT ["countersign"]']);
    expect(lines.some((l) => /^HEALTHCHECK\s/i.test(l))).toBe(false);
  });
});
