/** A Kubernetes object as rendered from an app's source. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface RenderedApp {
  app: string;
  objects: K8sObject[];
  /** sha256 over the canonical rendered objects: what the ledger records and compares. */
  digest: string;
}

/** The one object id format used in every message: Kind/namespace/name (Kind/name when cluster-scoped). */
export function objectId(o: Pick<K8sObject, 'kind' | 'metadata'>): string {
  return o.metadata.namespace ? `${o.kind}/${o.metadata.namespace}/${o.metadata.name}` : `${o.kind}/${o.metadata.name}`;
}
