/**
 * The deployment material under attack: what a tenant who can create namespaces, label them or
 * their pods, or reach other pods on the network, can do to get an unverified image running or
 * to bypass the gate; what a compromise of one pod yields; what ends up in the image. Static, as
 * test/unit/deploy/manifests.test.ts (whose schema checks through kubernetes-models this reuses).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import * as networking from 'kubernetes-models/networking.k8s.io/v1';

const ROOT = path.resolve(__dirname, '../../..');
const K8S = path.join(ROOT, 'deploy', 'kubernetes');
const NAMESPACE = 'countersign';

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}
interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}
interface Rule {
  apiGroups: string[];
  apiVersions: string[];
  operations: string[];
  resources: string[];
  scope?: string;
}
interface Webhook {
  name: string;
  failurePolicy?: string;
  matchPolicy?: string;
  rules: Rule[];
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
  matchConditions?: unknown[];
}
interface WebhookConfiguration extends Manifest {
  webhooks: Webhook[];
}
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
  procMount?: string;
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  securityContext?: SecurityContext;
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>;
  ports?: Array<{ name?: string; containerPort: number; hostPort?: number }>;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}
interface DeploymentDoc extends Manifest {
  spec: {
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        containers: Container[];
        initContainers?: Container[];
        volumes?: Array<{ name: string; secret?: { secretName: string; defaultMode?: number }; configMap?: { name: string } }>;
        securityContext?: SecurityContext;
        hostNetwork?: boolean;
        hostPID?: boolean;
        hostIPC?: boolean;
      };
    };
  };
}

function parseFile(file: string): Manifest[] {
  // YAML 1.1, as Kubernetes reads manifests (sigs.k8s.io/yaml): `defaultMode: 0400` is octal 256,
  // where the yaml package's default (1.2) would read decimal 400.
  return parseAllDocuments(readFileSync(path.join(K8S, file), 'utf8'), { version: '1.1' })
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]!.message}`);
      return d.toJSON() as Manifest | null;
    })
    .filter((d): d is Manifest => d !== null);
}
interface ImageOverride {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}
const kustomization = parseFile('kustomization.yaml')[0] as unknown as { resources: string[]; images?: ImageOverride[] };
const all = kustomization.resources.flatMap(parseFile);

/** An image reference's name, without its tag or digest (`registry:5000/a/b:1@sha256:…` → `registry:5000/a/b`). */
function imageName(image: string): string {
  const withoutDigest = image.split('@')[0]!;
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  return colon > lastSlash ? withoutDigest.slice(0, colon) : withoutDigest;
}
/**
 * The image a container runs once `kubectl apply -k` has applied the kustomization's `images:`
 * entries (kustomize's image transformer): an entry whose name is the image's name replaces the
 * name by newName and the tag by newTag, or tag and digest by the digest.
 */
function deployedImage(image: string): string {
  const override = (kustomization.images ?? []).find((o) => o.name === imageName(image));
  if (!override) return image;
  const name = override.newName ?? imageName(image);
  if (override.digest) return `${name}@${override.digest}`;
  const rest = image.slice(imageName(image).length);
  return override.newTag ? `${name}:${override.newTag}` : `${name}${rest}`;
}
const ofKind = <T = Manifest>(kind: string) => all.filter((d) => d.kind === kind) as unknown as T[];
const named = (kind: string, name: string) => all.find((d) => d.kind === kind && d.metadata.name === name);
const deployment = (name: string) => named('Deployment', name) as DeploymentDoc;
const deployments = ofKind<DeploymentDoc>('Deployment');
const containersOf = (d: DeploymentDoc) => [...d.spec.template.spec.containers, ...(d.spec.template.spec.initContainers ?? [])];
const configurations = [
  ...ofKind<WebhookConfiguration>('ValidatingWebhookConfiguration'),
  ...ofKind<WebhookConfiguration>('MutatingWebhookConfiguration'),
];
const webhooks = configurations.flatMap((c) => c.webhooks.map((w) => [`${c.kind} ${w.name}`, w] as const));

/** Kubernetes' label-selector semantics (In, NotIn, Exists, DoesNotExist; matchLabels ANDed in). */
function selects(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    const ok =
      e.operator === 'In'
        ? has && (e.values ?? []).includes(value!)
        : e.operator === 'NotIn'
          ? !has || !(e.values ?? []).includes(value!)
          : e.operator === 'Exists'
            ? has
            : e.operator === 'DoesNotExist'
              ? !has
              : (() => {
                  throw new Error(`unknown operator ${e.operator}`);
                })();
    if (!ok) return false;
  }
  return true;
}

/** The labels a namespace gets: whatever its creator chose, plus the API server's immutable name label. */
const namespaceLabels = (name: string, chosen: Record<string, string> = {}) => ({ ...chosen, 'kubernetes.io/metadata.name': name });

/** Namespaces a tenant may create or find, beyond the two the entries treat apart. */
const OTHER_NAMESPACES = [
  'default',
  'team-a',
  'attacker',
  'kube-public',
  'kube-node-lease',
  'countersign-dev',
  'kube-system2',
  'xkube-system',
];
const NAME_LABEL = 'kubernetes.io/metadata.name';
const byFailurePolicy = (c: WebhookConfiguration, policy: string) => c.webhooks.filter((w) => (w.failurePolicy ?? 'Fail') === policy);

describe('the webhooks: no tenant can steer a workload out of their scope', () => {
  test.each(webhooks)('%s: its namespaceSelector keys only on the immutable kubernetes.io/metadata.name label', (_, webhook) => {
    const selector = webhook.namespaceSelector ?? {};
    expect(selector.matchLabels ?? {}).toEqual({});
    for (const e of selector.matchExpressions ?? []) {
      expect(e.key).toBe(NAME_LABEL);
      expect(['In', 'NotIn']).toContain(e.operator);
    }
    // A namespace creator labels their namespace as anything an exemption could be keyed on, or
    // claims another namespace's name label (the API server overwrites it): the entry judges it
    // exactly as it judges that namespace unlabelled.
    const attackerLabels = {
      'countersign.dev/ignore': 'true',
      'countersign.dev/exempt': 'true',
      'admission.countersign.dev/skip': 'true',
      'control-plane': 'true',
      'app.kubernetes.io/part-of': 'countersign',
      [NAME_LABEL]: NAMESPACE,
    };
    for (const ns of [...OTHER_NAMESPACES, 'kube-system']) {
      expect(`${ns}: ${selects(webhook.namespaceSelector, namespaceLabels(ns, attackerLabels))}`).toBe(
        `${ns}: ${selects(webhook.namespaceSelector, namespaceLabels(ns))}`,
      );
    }
    // The service's own namespace is out of scope, so a broken Countersign can be redeployed.
    expect(selects(webhook.namespaceSelector, namespaceLabels(NAMESPACE))).toBe(false);
  });

  test.each(configurations.map((c) => [c.kind, c] as const))(
    '%s: a fail-closed entry for every namespace but countersign and kube-system, a fail-open one for kube-system alone',
    (_, configuration) => {
      expect(configuration.webhooks).toHaveLength(2);
      const [main, ...moreMain] = byFailurePolicy(configuration, 'Fail');
      const [kubeSystem, ...moreKubeSystem] = byFailurePolicy(configuration, 'Ignore');
      expect(moreMain).toEqual([]);
      expect(moreKubeSystem).toEqual([]);
      // The main entry: NotIn [countersign, kube-system], and so every other namespace.
      expect(main!.namespaceSelector?.matchLabels ?? {}).toEqual({});
      const [mainExpression, ...otherMain] = main!.namespaceSelector?.matchExpressions ?? [];
      expect(otherMain).toEqual([]);
      expect(mainExpression!.key).toBe(NAME_LABEL);
      expect(mainExpression!.operator).toBe('NotIn');
      expect([...mainExpression!.values!].sort()).toEqual([NAMESPACE, 'kube-system'].sort());
      for (const ns of OTHER_NAMESPACES) expect(`${ns}: ${selects(main!.namespaceSelector, namespaceLabels(ns))}`).toBe(`${ns}: true`);
      // The kube-system entry: In [kube-system], nothing else.
      expect(kubeSystem!.namespaceSelector).toEqual({ matchExpressions: [{ key: NAME_LABEL, operator: 'In', values: ['kube-system'] }] });
      // The same name pattern, the same rules and the same call.
      expect(kubeSystem!.name).toBe(`kube-system.${main!.name}`);
      expect(kubeSystem!.rules).toEqual(main!.rules);
      const call = (w: Webhook) => (w as unknown as { clientConfig: unknown }).clientConfig;
      expect(call(kubeSystem!)).toEqual(call(main!));
      // Together: every namespace but countersign is judged, each by exactly one entry.
      for (const ns of [...OTHER_NAMESPACES, 'kube-system']) {
        const judging = configuration.webhooks.filter((w) => selects(w.namespaceSelector, namespaceLabels(ns))).length;
        expect(`${ns}: ${judging}`).toBe(`${ns}: 1`);
      }
      expect(configuration.webhooks.some((w) => selects(w.namespaceSelector, namespaceLabels(NAMESPACE)))).toBe(false);
    },
  );

  test.each(webhooks)('%s: no objectSelector or matchConditions a pod’s creator could satisfy to skip it', (_, webhook) => {
    expect(webhook.objectSelector ?? {}).toEqual({});
    expect(webhook.matchConditions ?? []).toEqual([]);
    // Equivalent (the default): a workload sent through another API version is still intercepted.
    expect(webhook.matchPolicy ?? 'Equivalent').toBe('Equivalent');
  });

  test.each(webhooks)('%s: covers every resource that starts containers, on create and update', (_, webhook) => {
    const covered = (group: string, resource: string, operation: string) =>
      webhook.rules.some(
        (r) =>
          (r.apiGroups.includes(group) || r.apiGroups.includes('*')) &&
          (r.resources.includes(resource) || r.resources.includes('*')) &&
          (r.operations.includes(operation) || r.operations.includes('*')) &&
          (r.scope ?? '*') !== 'Cluster',
      );
    const starters: Array<[string, string]> = [
      ['', 'pods'],
      ['', 'replicationcontrollers'],
      ['apps', 'deployments'],
      ['apps', 'replicasets'],
      ['apps', 'statefulsets'],
      ['apps', 'daemonsets'],
      ['batch', 'jobs'],
      ['batch', 'cronjobs'],
    ];
    for (const [group, resource] of starters) {
      for (const op of ['CREATE', 'UPDATE'])
        expect(`${group}/${resource} ${op}: ${covered(group, resource, op)}`).toBe(`${group}/${resource} ${op}: true`);
    }
    // `kubectl debug` adds an ephemeral container through this subresource (an UPDATE).
    expect(covered('', 'pods/ephemeralcontainers', 'UPDATE')).toBe(true);
  });

  test('the validating webhook judges everything the mutating one pins: the same entries, same rules, same namespaces', () => {
    const validating = ofKind<WebhookConfiguration>('ValidatingWebhookConfiguration')[0]!;
    const mutating = ofKind<WebhookConfiguration>('MutatingWebhookConfiguration')[0]!;
    for (const policy of ['Fail', 'Ignore']) {
      const v = byFailurePolicy(validating, policy);
      const m = byFailurePolicy(mutating, policy);
      expect(v).toHaveLength(1);
      expect(m).toHaveLength(1);
      expect(v[0]!.rules).toEqual(m[0]!.rules);
      expect(v[0]!.namespaceSelector).toEqual(m[0]!.namespaceSelector);
    }
  });

  test.each(configurations.map((c) => [c.kind, c] as const))(
    '%s judges kube-system too (no blanket bypass), failing open there only, so the cluster can recover',
    (_, configuration) => {
      // Whoever may create a Pod, DaemonSet or Deployment in kube-system (add-on installers, Helm
      // charts, their service accounts) is judged while Countersign answers. Failing closed there
      // would risk a deadlock: the CNI and DNS pods Countersign needs could not be recreated while
      // it is down. So the one entry that covers kube-system is failurePolicy Ignore.
      const judging = configuration.webhooks.filter((w) => selects(w.namespaceSelector, namespaceLabels('kube-system')));
      expect(judging.map((w) => w.failurePolicy)).toEqual(['Ignore']);
      // …and no other namespace is judged fail-open.
      for (const ns of OTHER_NAMESPACES)
        for (const w of configuration.webhooks.filter((x) => selects(x.namespaceSelector, namespaceLabels(ns))))
          expect(`${ns}: ${String(w.failurePolicy)}`).toBe(`${ns}: Fail`);
    },
  );
});

describe('the pods Countersign is not judged by', () => {
  test.each(deployments.map((d) => [d.metadata.name, d] as const))('%s: seccomp RuntimeDefault, no host namespaces', (_, d) => {
    const pod = d.spec.template.spec;
    expect(pod.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.hostPID ?? false).toBe(false);
    expect(pod.hostIPC ?? false).toBe(false);
  });

  test.each(deployments.map((d) => [d.metadata.name, d] as const))(
    '%s: Secrets are mounted read-only, readable by the owner (and fsGroup) only',
    (_, d) => {
      const secretVolumes = (d.spec.template.spec.volumes ?? []).filter((v) => v.secret);
      for (const v of secretVolumes) {
        expect((v.secret!.defaultMode ?? 0o644) & 0o037).toBe(0);
        for (const c of containersOf(d)) {
          for (const m of (c.volumeMounts ?? []).filter((m) => m.name === v.name))
            expect(`${m.mountPath}: ${String(m.readOnly)}`).toBe(`${m.mountPath}: true`);
        }
      }
    },
  );

  test.each(deployments.flatMap((d) => containersOf(d).map((c) => [`${d.metadata.name}/${c.name}`, c.image] as const)))(
    '%s runs an image pinned by digest, once the kustomization’s images are applied (its namespace is exempt from the pinning webhook)',
    (_, image) => {
      // A tag (`ghcr.io/countersign/countersign:0.1.0`, `registry:3`) would let whoever can move
      // it choose what runs as the admission webhook itself, with the KEK and the store
      // credentials mounted. `kubectl apply -k` applies the kustomization's `images:` entries
      // first: what runs is their result.
      expect(deployedImage(image)).toMatch(/@sha256:[0-9a-f]{64}$/);
    },
  );

  test('a third-party image in the manifests says how to renew its digest', () => {
    const registryText = readFileSync(path.join(K8S, 'registry.yaml'), 'utf8');
    const image = deployment('registry').spec.template.spec.containers[0]!.image;
    expect(image).toMatch(/^[^@\s]+:[\w][\w.-]*@sha256:[0-9a-f]{64}$/);
    expect(registryText).toContain(`skopeo inspect --format '{{.Digest}}' docker://${image.split('@')[0]!}`);
  });

  test('Countersign’s own image digest is the documented “unset” placeholder (which fails closed) or a real one, and the README says how to set it', () => {
    // No Countersign image is published, and nothing here can build or push one: only the
    // operator, after pushing the image they built, knows its digest. So the committed value may
    // be the placeholder, the all-zero digest, which fails closed (no content hashes to it: the
    // kubelet cannot pull it and the pods do not start), never a tag and never an invented
    // digest that looks real. Once set, it must look like a SHA-256 (64 hex digits, not a pattern).
    const UNSET = `sha256:${'0'.repeat(64)}`;
    const countersignImages = new Set(
      deployments.filter((d) => d.metadata.name !== 'registry').flatMap((d) => containersOf(d).map((c) => c.image)),
    );
    expect([...countersignImages]).toEqual(['countersign']);
    const override = (kustomization.images ?? []).find((o) => o.name === 'countersign');
    expect(override).toBeDefined();
    expect(override!.newTag).toBeUndefined();
    expect(override!.newName).toMatch(/^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)+$/);
    const digest = override!.digest!;
    const realLooking = /^sha256:[0-9a-f]{64}$/.test(digest) && new Set(digest.slice('sha256:'.length)).size >= 10;
    expect(`${digest}: ${digest === UNSET || realLooking}`).toBe(`${digest}: true`);
    // The placeholder is documented as unset where it is committed and in the README, with the
    // command that sets it.
    const kustomizationText = readFileSync(path.join(K8S, 'kustomization.yaml'), 'utf8');
    expect(kustomizationText).toMatch(/UNSET/);
    expect(kustomizationText).toContain('kustomize edit set image countersign=');
    const readmeText = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readmeText.indexOf('## Deploying on Kubernetes');
    expect(section).toBeGreaterThanOrEqual(0);
    const readme = readmeText.slice(section, readmeText.indexOf('\n## ', section + 1));
    expect(readme).toContain('kustomize edit set image countersign=');
    expect(readme).toContain(UNSET);
    expect(readme).toMatch(/unset/i);
  });

  test('the Countersign namespace enforces (and audits and warns about) the restricted Pod Security Standard', () => {
    // Exempt from Countersign's webhooks, it is where a Pod creator can run anything: Pod Security
    // Admission is what is left to keep that from being privileged.
    const ns = named('Namespace', NAMESPACE)!;
    for (const mode of ['enforce', 'audit', 'warn']) expect(ns.metadata.labels?.[`pod-security.kubernetes.io/${mode}`]).toBe('restricted');
    for (const mode of ['enforce', 'audit', 'warn']) {
      const version = ns.metadata.labels?.[`pod-security.kubernetes.io/${mode}-version`];
      if (version !== undefined) expect(version).toMatch(/^(latest|v1\.\d+)$/);
    }
  });

  test.each(deployments.flatMap((d) => containersOf(d).map((c) => [`${d.metadata.name}/${c.name}`, d, c] as const)))(
    '%s satisfies the restricted Pod Security Standard (else the namespace refuses its pods)',
    (_, d, c) => {
      const pod = d.spec.template.spec;
      const podContext = pod.securityContext ?? {};
      const context = c.securityContext ?? {};
      // Container settings override the pod's.
      const runAsNonRoot = context.runAsNonRoot ?? podContext.runAsNonRoot;
      const runAsUser = context.runAsUser ?? podContext.runAsUser;
      const seccomp = context.seccompProfile?.type ?? podContext.seccompProfile?.type;
      expect(runAsNonRoot).toBe(true);
      if (runAsUser !== undefined) expect(runAsUser).not.toBe(0);
      expect(context.allowPrivilegeEscalation).toBe(false);
      expect(context.capabilities?.drop ?? []).toContain('ALL');
      for (const cap of context.capabilities?.add ?? []) expect(cap).toBe('NET_BIND_SERVICE');
      expect(['RuntimeDefault', 'Localhost']).toContain(seccomp);
      // Baseline, which restricted includes.
      expect(context.privileged ?? false).toBe(false);
      expect(context.procMount ?? 'Default').toBe('Default');
      for (const port of c.ports ?? []) expect(port.hostPort ?? 0).toBe(0);
      expect(pod.hostNetwork ?? false).toBe(false);
      expect(pod.hostPID ?? false).toBe(false);
      expect(pod.hostIPC ?? false).toBe(false);
      // Restricted volume types only (no hostPath).
      const allowed = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];
      for (const v of pod.volumes ?? []) {
        const types = Object.keys(v).filter((k) => k !== 'name');
        expect(`${v.name}: ${types.every((t) => allowed.includes(t))}`).toBe(`${v.name}: true`);
      }
    },
  );

  test('no RBAC objects: the service accounts are bound to nothing', () => {
    for (const kind of ['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding']) expect(ofKind(kind)).toEqual([]);
    for (const sa of ofKind<Manifest & { automountServiceAccountToken?: boolean }>('ServiceAccount'))
      expect(sa.automountServiceAccountToken).toBe(false);
  });
});

describe('the gate and the registry behind it', () => {
  test('the registry accepts connections only from the gate and Countersign (a NetworkPolicy), so a push cannot go around the gate', () => {
    // Without one, any pod in the cluster pushes (and, REGISTRY_STORAGE_DELETE_ENABLED, deletes)
    // straight at registry.countersign.svc:5000, unauthenticated: the gate's push rules and
    // immutable tags decide nothing.
    const registry = deployment('registry');
    const labels = registry.spec.template.metadata.labels;
    const policies = ofKind<Manifest & { spec: networking.INetworkPolicy['spec'] }>('NetworkPolicy').filter(
      (p) => p.metadata.namespace === NAMESPACE && selects(p.spec!.podSelector, labels),
    );
    expect(policies.length).toBeGreaterThan(0);
    for (const p of policies) expect(() => new networking.NetworkPolicy(p as never).validate()).not.toThrow();
    const ingress = policies.flatMap((p) => ((p.spec!.policyTypes ?? ['Ingress']).includes('Ingress') ? (p.spec!.ingress ?? []) : []));
    const gate = deployment('countersign-gate').spec.template.metadata.labels;
    const service = deployment('countersign').spec.template.metadata.labels;
    const admits = (podLabels: Record<string, string>) =>
      ingress.some((rule) =>
        (rule.from ?? [{}]).some((peer) => !peer.namespaceSelector && !peer.ipBlock && selects(peer.podSelector, podLabels)),
      );
    expect(admits(gate)).toBe(true);
    expect(admits(service)).toBe(true);
    expect(admits({ app: 'anything-else' })).toBe(false);
    // No rule admits every peer or another namespace.
    for (const rule of ingress) expect(rule.from?.length ?? 0).toBeGreaterThan(0);
  });

  test('the gate, which registry clients reach from outside, holds no KEK: a compromised gate yields no signing key', () => {
    // Were it `countersign serve` in full (SigningService on 50051 included) with the KEK and the
    // service's store URL, where every sealed private key lives, a bug in its registry-protocol
    // proxy would be a key compromise. It is `countersign gate`, a gRPC client of the service.
    const gate = deployment('countersign-gate');
    const secrets = (gate.spec.template.spec.volumes ?? []).flatMap((v) => (v.secret ? [v.secret.secretName] : []));
    expect(secrets).not.toContain('countersign-kek');
    const env = containersOf(gate).flatMap((c) => c.env ?? []);
    expect(env.map((e) => e.name)).not.toContain('COUNTERSIGN_KEK');
    expect(env.map((e) => e.name)).not.toContain('COUNTERSIGN_KEK_FILE');
    // Nor the service's store (sealed keys, token hashes, the audit chain), from any Secret.
    const fromSecrets = env.flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef.name] : []));
    expect(fromSecrets).not.toContain('countersign-store');
    for (const c of containersOf(gate)) expect(c.args?.[0]).toBe('gate');
  });
});

describe('deploy/Dockerfile and its build context', () => {
  const text = readFileSync(path.join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const dockerignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  test('every base image is pinned by digest, with a note on how to renew it', () => {
    const fromLines = lines.filter((l) => /^FROM\s/i.test(l));
    const stageNames = new Set(fromLines.flatMap((l) => (/\sAS\s+(\S+)$/i.exec(l) ? [/\sAS\s+(\S+)$/i.exec(l)![1]!.toLowerCase()] : [])));
    const froms = fromLines.map((l) => l.split(/\s+/)[1]!);
    expect(froms.length).toBeGreaterThan(0);
    // A stage named earlier (FROM build) is not a base image.
    const bases = froms.filter((f) => !stageNames.has(f.toLowerCase()));
    expect(bases.length).toBeGreaterThan(0);
    for (const from of bases) expect(from).toMatch(/^[^@\s]+:[\w][\w.-]*@sha256:[0-9a-f]{64}$/);
    expect(text).toMatch(/skopeo inspect --format '\{\{\.Digest\}\}' docker:\/\//);
  });

  test('no secret enters the image: no ARG/ENV carrying one, no key, data or test file in the context', () => {
    for (const l of lines.filter((x) => /^(ARG|ENV)\s/i.test(x))) expect(l).not.toMatch(/TOKEN|KEK|PASSWORD|SECRET|KEY|STORE_URL|NPM_/i);
    expect(lines.some((l) => /--mount=type=secret|\.npmrc/.test(l))).toBe(false);
    // The context is an allowlist: everything excluded, then only what the build reads re-included.
    expect(dockerignore[0]).toBe('**');
    const included = dockerignore.filter((l) => l.startsWith('!'));
    for (const l of included)
      expect(l).toMatch(/^!(package\.json|package-lock\.json|tsconfig(\.build)?\.json|(src|proto|trust|bin)\/\*\*)$/);
    // What the re-included folders hold: no private key, no database, no test.
    const tracked = (dir: string): string[] =>
      readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
        .filter((e) => e.isFile())
        .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
    for (const f of ['trust', 'bin', 'proto'].flatMap(tracked)) {
      expect(f).not.toMatch(/\.(key|db|sqlite|pem)$|kek|\.test\.|\.env/);
      expect(readFileSync(path.join(ROOT, f), 'utf8')).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
    }
  });

  test('the runtime stage copies no sources, tests or state: only the compiled code and what it reads', () => {
    const stages: string[][] = [];
    for (const l of lines) {
      if (/^FROM\s/i.test(l)) stages.push([]);
      stages.at(-1)?.push(l);
    }
    const copies = stages.at(-1)!.filter((l) => /^(COPY|ADD)\s/i.test(l));
    expect(copies.some((l) => /^ADD\s/i.test(l))).toBe(false);
    for (const l of copies)
      expect(l).toMatch(
        /^COPY (package\.json package-lock\.json \.\/|--from=build \/src\/dist \.\/dist|proto \.\/proto|trust \.\/trust|bin \.\/bin)$/,
      );
    // The user the image runs as owns no code: it is set after the last COPY.
    const runtime = stages.at(-1)!;
    const lastCopy = runtime.map((l) => /^COPY\s/i.test(l)).lastIndexOf(true);
    const user = runtime.findIndex((l) => /^USER\s/i.test(l));
    expect(user).toBeGreaterThan(lastCopy);
    expect(runtime.slice(lastCopy).some((l) => /chown -R 10001:10001 \/app(\s|$)/.test(l))).toBe(false);
  });
});
