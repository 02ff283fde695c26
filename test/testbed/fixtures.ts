import { stringify } from 'yaml';

/** A kubeconfig user: a client certificate (PEM, inline) or a bearer token. */
export type KubeUser = { name: string; certPem: string; keyPem: string } | { name: string; token: string };

/** A one-context kubeconfig with everything inline, so it can be copied or base64-encoded as is. */
export function kubeconfigYaml(opts: { clusterName: string; server: string; caData: string; user: KubeUser }): string {
  const { clusterName, server, caData, user } = opts;
  const credentials =
    'token' in user
      ? { token: user.token }
      : { 'client-certificate-data': b64(user.certPem), 'client-key-data': b64(user.keyPem) };
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: clusterName, cluster: { server, 'certificate-authority-data': caData } }],
    users: [{ name: user.name, user: credentials }],
    contexts: [{ name: `${user.name}@${clusterName}`, context: { cluster: clusterName, user: user.name } }],
    'current-context': `${user.name}@${clusterName}`,
  });
}

function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

export interface RbacOptions {
  /** The Kubernetes group of the least-privileged deployers. */
  group: string;
  /** The only namespaces the group may write to. */
  namespaces: string[];
  /** The pipe's own namespace (deploy ledger, lock lease): read and write. */
  pipeNamespace: string;
}

type Obj = Record<string, unknown>;

/**
 * Least privilege for the deployers: the built-in "edit" role inside their namespaces and the
 * pipe's own namespace, read-only access to namespaces themselves, nothing else. Everywhere else
 * (kube-system, default, other teams) they are forbidden.
 */
export function rbacObjects(opts: RbacOptions): Obj[] {
  const subjects = [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: opts.group }];
  const namespaces = [...new Set([...opts.namespaces, opts.pipeNamespace])];
  const readNamespaces = `${opts.group}:read-namespaces`;
  return [
    ...namespaces.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })),
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: readNamespaces },
      rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: readNamespaces },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: readNamespaces },
      subjects,
    },
    ...namespaces.map((namespace) => ({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: `${opts.group}:edit`, namespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
      subjects,
    })),
  ];
}

/** Nodes that kwok keeps Ready and whose Pods it runs (names kwok-node-0..n-1). */
export function kwokNodes(count: number): Obj[] {
  const resources = { cpu: '32', memory: '256Gi', pods: '110' };
  return Array.from({ length: count }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: `kwok-node-${i}`,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': `kwok-node-${i}`,
        'kubernetes.io/os': 'linux',
        'node-role.kubernetes.io/agent': '',
        type: 'kwok',
      },
    },
    status: { allocatable: resources, capacity: resources },
  }));
}

export function listYaml(items: Obj[]): string {
  return stringify({ apiVersion: 'v1', kind: 'List', items });
}
