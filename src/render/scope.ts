/**
 * Which kinds are cluster-scoped. Rendering happens without a cluster, so this is a fixed list of
 * the built-in cluster-scoped kinds (Kubernetes 1.33) plus the CRDs rendered in the same app with
 * spec.scope Cluster. Any other kind is treated as namespaced. The answer must not depend on which
 * other apps happen to be rendered in a run: an object's id (and the digest) must be stable.
 */
const BUILT_IN: Record<string, string[]> = {
  '': ['Namespace', 'Node', 'PersistentVolume', 'ComponentStatus'],
  'rbac.authorization.k8s.io': ['ClusterRole', 'ClusterRoleBinding'],
  'apiextensions.k8s.io': ['CustomResourceDefinition'],
  'apiregistration.k8s.io': ['APIService'],
  'admissionregistration.k8s.io': [
    'MutatingWebhookConfiguration',
    'ValidatingWebhookConfiguration',
    'ValidatingAdmissionPolicy',
    'ValidatingAdmissionPolicyBinding',
    'MutatingAdmissionPolicy',
    'MutatingAdmissionPolicyBinding',
  ],
  'storage.k8s.io': ['StorageClass', 'CSIDriver', 'CSINode', 'VolumeAttachment', 'VolumeAttributesClass'],
  'scheduling.k8s.io': ['PriorityClass'],
  'node.k8s.io': ['RuntimeClass'],
  'networking.k8s.io': ['IngressClass', 'IPAddress', 'ServiceCIDR'],
  'certificates.k8s.io': ['CertificateSigningRequest', 'ClusterTrustBundle'],
  'flowcontrol.apiserver.k8s.io': ['FlowSchema', 'PriorityLevelConfiguration'],
  'policy': ['PodSecurityPolicy'],
  'resource.k8s.io': ['DeviceClass', 'ResourceSlice'],
  'internal.apiserver.k8s.io': ['StorageVersion'],
  'storagemigration.k8s.io': ['StorageVersionMigration'],
  'authentication.k8s.io': ['TokenReview', 'SelfSubjectReview'],
  'authorization.k8s.io': ['SubjectAccessReview', 'SelfSubjectAccessReview', 'SelfSubjectRulesReview'],
};

const builtIn = new Set(Object.entries(BUILT_IN).flatMap(([group, kinds]) => kinds.map((k) => `${group}/${k}`)));

/** "group/Kind" from apiVersion ("apps/v1" -> "apps", "v1" -> ""). */
export function groupKind(apiVersion: string, kind: string): string {
  const slash = apiVersion.lastIndexOf('/');
  return `${slash < 0 ? '' : apiVersion.slice(0, slash)}/${kind}`;
}

export class Scopes {
  private readonly clusterCrds = new Set<string>();

  /** Learns the scope of a CustomResourceDefinition rendered in the same app. */
  learn(obj: Record<string, unknown>): void {
    if (obj.kind !== 'CustomResourceDefinition' || typeof obj.apiVersion !== 'string' || !obj.apiVersion.startsWith('apiextensions.k8s.io/')) return;
    const spec = obj.spec as { group?: unknown; scope?: unknown; names?: { kind?: unknown } } | undefined;
    if (spec?.scope === 'Cluster' && typeof spec.group === 'string' && typeof spec.names?.kind === 'string') {
      this.clusterCrds.add(`${spec.group}/${spec.names.kind}`);
    }
  }

  isClusterScoped(apiVersion: string, kind: string): boolean {
    const gk = groupKind(apiVersion, kind);
    return builtIn.has(gk) || this.clusterCrds.has(gk);
  }
}
