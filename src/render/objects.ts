import { createHash } from 'node:crypto';
import { formatLocation, InputError } from '../util/errors.js';
import { objectId, type K8sObject } from './model.js';
import { isObject, type Sourced } from './parse.js';
import { groupKind, Scopes } from './scope.js';

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** RBAC names only need to be a valid path segment ("system:controller:x" is common). */
const PATH_SEGMENT_KINDS = new Set(['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding'].map((k) => `rbac.authorization.k8s.io/${k}`));

/** Largest number of problems listed for one app; the rest are counted. */
const MAX_LISTED = 20;

/**
 * Turns an app's sourced objects into what gets applied: every object validated, namespaced
 * objects without a namespace put into the app's namespace, cluster-scoped objects stripped of
 * one (the API server ignores it), duplicates rejected with both origins.
 */
export function finalizeObjects(sourced: Sourced[], namespace: string): K8sObject[] {
  const problems: InputError[] = [];
  const scopes = new Scopes();
  for (const s of sourced) scopes.learn(s.value);

  const seen = new Map<string, Sourced>();
  const objects: K8sObject[] = [];
  for (const s of sourced) {
    const problem = validate(s.value);
    if (problem) {
      problems.push(new InputError(problem.message, { where: s.where, hint: problem.hint }));
      continue;
    }
    const obj = s.value as K8sObject;
    if (scopes.isClusterScoped(obj.apiVersion, obj.kind)) delete obj.metadata.namespace;
    else if (!obj.metadata.namespace) obj.metadata.namespace = namespace;
    const id = objectId(obj);
    const first = seen.get(id);
    if (first) {
      problems.push(
        new InputError(`${id} is defined twice: here and at ${formatLocation(first.where).replace(/: $/, '')}`, {
          where: s.where,
          hint: 'an app may contain each object once; remove one of them or give it another name',
        }),
      );
      continue;
    }
    seen.set(id, s);
    objects.push(obj);
  }
  if (problems.length === 1) throw problems[0]!;
  if (problems.length > 1) {
    const listed = problems.slice(0, MAX_LISTED).map((p) => p.located);
    if (problems.length > MAX_LISTED) listed.push(`… and ${problems.length - MAX_LISTED} more`);
    throw new InputError(`${problems.length} invalid objects`, {
      where: problems[0]!.where,
      details: listed,
      hint: 'fix each object listed',
    });
  }
  return objects;
}

function validate(v: Record<string, unknown>): { message: string; hint: string } | undefined {
  const missing = ['apiVersion', 'kind'].filter((k) => typeof v[k] !== 'string' || !v[k]);
  if (missing.length) {
    return { message: `object has no ${missing.join(' and ')}`, hint: 'every Kubernetes object needs apiVersion, kind and metadata.name' };
  }
  const kind = v.kind as string;
  if (kind === 'Root' && String(v.apiVersion).startsWith('app-of-apps/')) {
    return {
      message: 'this is the root manifest, not a Kubernetes object: the app renders the folder that holds it',
      hint: "point the app's path at a folder of manifests, or leave the root out of it (directory: { exclude: <the root's file name> })",
    };
  }
  const meta = v.metadata;
  if (!isObject(meta)) return { message: `${kind} has no metadata`, hint: 'add metadata with at least a name' };
  const name = meta.name;
  if (name !== undefined && name !== null && typeof name !== 'string') {
    // `name: y` or `name: 1.0` are not strings in YAML
    return { message: `${kind} metadata.name is ${JSON.stringify(name)}, not a string`, hint: 'quote the name (name: "y")' };
  }
  if (typeof name !== 'string' || !name) {
    if (!meta.generateName) return { message: `${kind} has no metadata.name`, hint: 'add metadata.name' };
    const annotations = isObject(meta.annotations) ? meta.annotations : {};
    const hook = annotations['argocd.argoproj.io/hook'] ?? annotations['helm.sh/hook'];
    // a hook is created (POST) at its phase, and the server names it; any other object is applied by name
    if (!hook) {
      return {
        message: `${kind} ${String(meta.generateName)}* uses metadata.generateName, which only hooks may use`,
        hint: 'give the object a fixed metadata.name (server-side apply needs one), or make it a hook (argocd.argoproj.io/hook)',
      };
    }
    if (typeof meta.generateName !== 'string' || !/^[a-z0-9]([-a-z0-9.]*)?$/.test(meta.generateName) || meta.generateName.length > 248) {
      return { message: `${kind} metadata.generateName "${String(meta.generateName)}" is not the start of a name`, hint: 'use lowercase letters, digits, "-" and "."' };
    }
    delete meta.name;
  } else {
    const nameProblem = checkName(groupKind(v.apiVersion as string, kind), name);
    if (nameProblem) return { message: `${kind} name "${name}" ${nameProblem}`, hint: 'rename the object' };
  }
  const label = `${kind}/${typeof name === 'string' && name ? name : `${String(meta.generateName)}*`}`;
  const ns = meta.namespace;
  if (ns !== undefined && ns !== null && (typeof ns !== 'string' || (ns !== '' && (ns.length > 63 || !DNS_LABEL.test(ns))))) {
    return { message: `${label} has an invalid metadata.namespace "${String(ns)}"`, hint: 'use a lowercase DNS label (a-z, 0-9, "-")' };
  }
  if (ns === null || ns === '') delete meta.namespace;
  for (const field of ['labels', 'annotations'] as const) {
    const map = meta[field];
    if (map === undefined || map === null) continue;
    if (!isObject(map)) return { message: `${label} metadata.${field} must be a mapping`, hint: `write metadata.${field} as key: value pairs` };
    const bad = Object.entries(map).find(([, val]) => typeof val !== 'string');
    if (bad) {
      return {
        message: `${label} metadata.${field}.${bad[0]} is ${bad[1] === null ? 'null' : `a ${typeof bad[1]}`}, not a string`,
        hint: `quote the value ("${String(bad[1])}")`,
      };
    }
  }
  if (kind === 'Secret' && v.apiVersion === 'v1') return secretDataProblem(label, v.data);
  return undefined;
}

/** Base64 as the API server decodes a Secret's data (Go's StdEncoding, line breaks ignored). */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A Secret's data value the API server cannot decode, named by key: never the value, which is the secret. */
function secretDataProblem(id: string, data: unknown): { message: string; hint: string } | undefined {
  if (data === undefined || data === null) return undefined;
  if (!isObject(data)) return { message: `${id} data must be a mapping`, hint: 'write data as key: base64-value pairs (or plain text under stringData)' };
  const bad = Object.entries(data).find(([, val]) => val !== null && (typeof val !== 'string' || !BASE64.test(val.replace(/[\r\n]/g, ''))));
  if (!bad) return undefined;
  return {
    message: `${id} data.${bad[0]} is ${typeof bad[1] === 'string' ? 'not base64' : `a ${typeof bad[1]}, not a base64 string`}`,
    hint: "encode each value of data in base64 (printf %s 'value' | base64 -w0), or give it as plain text under stringData",
  };
}

function checkName(gk: string, name: string): string | undefined {
  if (PATH_SEGMENT_KINDS.has(gk)) {
    return name === '.' || name === '..' || /[/%]/.test(name) ? 'may not be "." or ".." or contain "/" or "%"' : undefined;
  }
  if (gk === '/Namespace') return name.length <= 63 && DNS_LABEL.test(name) ? undefined : 'is not a valid DNS label (at most 63 of a-z, 0-9, "-")';
  if (gk === '/Service') {
    return name.length <= 63 && DNS_1035_LABEL.test(name) ? undefined : 'is not a valid DNS-1035 label (at most 63 of a-z, 0-9, "-", starting with a letter)';
  }
  return name.length <= 253 && DNS_SUBDOMAIN.test(name) ? undefined : 'is not a valid DNS subdomain (at most 253 of a-z, 0-9, "-", ".")';
}

/** sha256 over the objects in objectId order, each as JSON with sorted keys: independent of file and key order. */
export function digestObjects(objects: K8sObject[]): string {
  const hash = createHash('sha256');
  const sorted = objects.map((o) => [objectId(o), o] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [, o] of sorted) hash.update(canonicalJson(o)).update('\n');
  return hash.digest('hex');
}

export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x ?? null)).join(',')}]`;
  if (isObject(v)) {
    const keys = Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
