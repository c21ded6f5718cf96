/**
 * Where the container images of a Kubernetes object live, as JSON pointers into the object the
 * API server sent (so that messages, logs and a future mutating variant can point at the exact
 * field). Only workload kinds that run containers are read; anything else has no images and is
 * not this webhook's business.
 *
 * Workload kind          | pod spec
 * -----------------------|----------------------------------------------
 * Pod                    | /spec
 * Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, ReplicationController | /spec/template/spec
 * CronJob                | /spec/jobTemplate/spec/template/spec
 * EphemeralContainers    | / (the pre-1.22 `pods/ephemeralcontainers` body: top-level `ephemeralContainers`)
 *
 * In each pod spec: `containers[]`, `initContainers[]`, `ephemeralContainers[]`, and the image
 * volumes `volumes[].image.reference` (Kubernetes 1.31+, on by default from 1.35): the kubelet
 * pulls those like container images and mounts their content into the containers, where a
 * verified image with a shell or an interpreter can run it.
 */
import { formatReference, parseReference } from '../registry/reference';
import { CountersignError } from '../shared/errors';

/** Where an image is used: a kind of container, or an image volume. */
export type ContainerKind = 'container' | 'initContainer' | 'ephemeralContainer' | 'imageVolume';

export interface ImageRef {
  /** The reference exactly as written in the object. */
  image: string;
  /** JSON pointer (RFC 6901) to the image field, e.g. `/spec/template/spec/containers/0/image`. */
  path: string;
  /** The container's name, or the image volume's ('' when the object has none). */
  container: string;
  kind: ContainerKind;
}

/** The parts of an AdmissionRequest that say what the object is. */
export interface ObjectSource {
  /** The request's kind (what the object was converted to for this webhook); else `object.kind`/`apiVersion`. */
  kind?: { group?: string; version?: string; kind?: string } | null;
  /**
   * Informative only: for `pods/ephemeralcontainers` the object is the whole Pod and every image in
   * it is returned (not just the ephemeral ones), like for any other update.
   */
  subResource?: string | null;
  object?: unknown;
}

/**
 * The object claims to be a workload but its pod spec cannot be read (no spec, `containers` not a
 * list, an image that is not a string). The caller denies: we cannot say what would run.
 */
export class MalformedObjectError extends CountersignError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

type PodSpecLocation = string[];

/** API groups in which each workload kind is the built-in one (`extensions` for old clusters). */
const WORKLOADS: Record<string, { groups: string[]; podSpec: PodSpecLocation }> = {
  Pod: { groups: [''], podSpec: ['spec'] },
  Deployment: { groups: ['apps', 'extensions'], podSpec: ['spec', 'template', 'spec'] },
  ReplicaSet: { groups: ['apps', 'extensions'], podSpec: ['spec', 'template', 'spec'] },
  DaemonSet: { groups: ['apps', 'extensions'], podSpec: ['spec', 'template', 'spec'] },
  StatefulSet: { groups: ['apps'], podSpec: ['spec', 'template', 'spec'] },
  Job: { groups: ['batch'], podSpec: ['spec', 'template', 'spec'] },
  ReplicationController: { groups: [''], podSpec: ['spec', 'template', 'spec'] },
  CronJob: { groups: ['batch'], podSpec: ['spec', 'jobTemplate', 'spec', 'template', 'spec'] },
  // `pods/ephemeralcontainers` before Kubernetes 1.22 sent this kind, with the list at the top level.
  EphemeralContainers: { groups: [''], podSpec: [] },
};

const LISTS: Array<[field: string, kind: ContainerKind]> = [
  ['containers', 'container'],
  ['initContainers', 'initContainer'],
  ['ephemeralContainers', 'ephemeralContainer'],
];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The kind and group of the request, else of the object itself (`apiVersion: apps/v1`). */
function kindOf(source: ObjectSource): { kind: string; group: string } | undefined {
  if (isRecord(source.kind) && typeof source.kind.kind === 'string' && source.kind.kind !== '') {
    return { kind: source.kind.kind, group: typeof source.kind.group === 'string' ? source.kind.group : '' };
  }
  const obj = source.object;
  if (isRecord(obj) && typeof obj.kind === 'string') {
    const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : 'v1';
    const slash = apiVersion.indexOf('/');
    return { kind: obj.kind, group: slash === -1 ? '' : apiVersion.slice(0, slash) };
  }
  return undefined;
}

/** True when `source` is a kind whose objects run containers (and so must have a readable pod spec). */
export function isWorkloadKind(source: ObjectSource): boolean {
  const k = kindOf(source);
  if (!k) return false;
  const w = WORKLOADS[k.kind];
  return Object.hasOwn(WORKLOADS, k.kind) && w !== undefined && w.groups.includes(k.group);
}

/** The name of the workload kind (e.g. `Deployment`), or undefined for other kinds. */
export function workloadKind(source: ObjectSource): string | undefined {
  return isWorkloadKind(source) ? kindOf(source)?.kind : undefined;
}

/**
 * Every image of the object, in document order (containers, init containers, ephemeral containers, image volumes),
 * one entry per occurrence: the same image in two containers appears twice, with both paths.
 * Use {@link groupImages} to verify each distinct image once. Kinds that run no containers give [].
 * Containers without an image (allowed in workload templates, which controllers may default) are
 * skipped: the Pods made from them are reviewed in their turn.
 *
 * @throws MalformedObjectError when a workload's pod spec cannot be read.
 */
export function imagesOf(source: ObjectSource): ImageRef[] {
  const k = kindOf(source);
  if (!k || !isWorkloadKind(source)) return [];
  const loc = WORKLOADS[k.kind]!.podSpec;
  const obj = source.object;
  if (!isRecord(obj)) throw new MalformedObjectError(`the ${k.kind} object is missing or is not a JSON object`);

  let spec: unknown = obj;
  let pointer = '';
  for (const field of loc) {
    pointer += `/${field}`;
    spec = (spec as Record<string, unknown>)[field];
    if (!isRecord(spec)) throw new MalformedObjectError(`the ${k.kind} object has no pod spec: ${pointer} is missing or not an object`);
  }
  const podSpec = spec as Record<string, unknown>;

  const out: ImageRef[] = [];
  for (const [field, kind] of LISTS) {
    const list = podSpec[field];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw new MalformedObjectError(`${pointer}/${field} of the ${k.kind} is not a list`);
    list.forEach((c, i) => {
      const path = `${pointer}/${field}/${i}/image`;
      if (!isRecord(c)) throw new MalformedObjectError(`${pointer}/${field}/${i} of the ${k.kind} is not an object`);
      const image = c.image;
      if (image === undefined || image === null || image === '') return;
      if (typeof image !== 'string') throw new MalformedObjectError(`${path} of the ${k.kind} is not a string`);
      out.push({ image, path, container: typeof c.name === 'string' ? c.name : '', kind });
    });
  }
  const volumes = podSpec.volumes;
  if (volumes !== undefined && volumes !== null) {
    if (!Array.isArray(volumes)) throw new MalformedObjectError(`${pointer}/volumes of the ${k.kind} is not a list`);
    volumes.forEach((v, i) => {
      if (!isRecord(v)) throw new MalformedObjectError(`${pointer}/volumes/${i} of the ${k.kind} is not an object`);
      const source = v.image;
      if (source === undefined || source === null) return;
      if (!isRecord(source)) throw new MalformedObjectError(`${pointer}/volumes/${i}/image of the ${k.kind} is not an object`);
      const path = `${pointer}/volumes/${i}/image/reference`;
      const image = source.reference;
      // As for containers: a template may leave it to be defaulted; the Pods are reviewed in their turn.
      if (image === undefined || image === null || image === '') return;
      if (typeof image !== 'string') throw new MalformedObjectError(`${path} of the ${k.kind} is not a string`);
      out.push({ image, path, container: typeof v.name === 'string' ? v.name : '', kind: 'imageVolume' });
    });
  }
  if (k.kind === 'Pod' && (podSpec.containers === undefined || podSpec.containers === null)) {
    // The API server never admits a Pod without containers; such a body is not a Pod we can judge.
    throw new MalformedObjectError(`the Pod object has no ${pointer}/containers`);
  }
  return out;
}

/**
 * The canonical form of an image reference under Docker's rules (`nginx` →
 * `index.docker.io/library/nginx:latest`), or undefined when it does not parse (the verifier then
 * rejects it with the reason).
 */
export function normalizeImage(image: string): string | undefined {
  try {
    return formatReference(parseReference(image));
  } catch {
    return undefined;
  }
}

export interface ImageGroup {
  /** The first spelling met; it is what the verifier is asked about. */
  image: string;
  /** The normalized reference (or the raw text when it does not parse). */
  key: string;
  /** Every place the image occurs (several when containers share an image or spell it differently). */
  refs: ImageRef[];
}

/** One entry per distinct image (after normalization), in first-occurrence order. */
export function groupImages(refs: readonly ImageRef[]): ImageGroup[] {
  const groups = new Map<string, ImageGroup>();
  for (const ref of refs) {
    const key = normalizeImage(ref.image) ?? ref.image;
    const g = groups.get(key);
    if (g) g.refs.push(ref);
    else groups.set(key, { image: ref.image, key, refs: [ref] });
  }
  return [...groups.values()];
}
