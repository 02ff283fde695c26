import { PipeError, type ExitCode, type Location } from '../util/errors.js';

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
  /** Helm rendered a chart for it (a helm app, or a kustomization's helmCharts): the cluster's .Capabilities mattered. */
  renderedCharts?: boolean;
  /** Things the user should know that did not stop the render (a YAML file with no Kubernetes objects, ...). */
  warnings?: string[];
}

/** The one object id format used in every message: Kind/namespace/name (Kind/name when cluster-scoped). */
export function objectId(o: Pick<K8sObject, 'kind' | 'metadata'>): string {
  return o.metadata.namespace ? `${o.kind}/${o.metadata.namespace}/${nameOf(o)}` : `${o.kind}/${nameOf(o)}`;
}

/** The object's name; a hook the server names (metadata.generateName) is its prefix and "*" until it is created. */
export function nameOf(o: Pick<K8sObject, 'metadata'>): string {
  return o.metadata.name ?? `${String(o.metadata.generateName ?? '')}*`;
}

/** A hook the server names when it is created (metadata.generateName, no name): created anew at every run. */
export function namedByServer(o: Pick<K8sObject, 'metadata'>): boolean {
  return !o.metadata.name && typeof o.metadata.generateName === 'string';
}

/**
 * One app could not be rendered. Exit code 2 when the input is at fault (manifests, chart,
 * values, a network-only dependency), 1 when a tool failed for another reason (crash, timeout).
 */
export class RenderError extends PipeError {
  readonly app: string;
  constructor(
    app: string,
    message: string,
    opts: { exitCode?: ExitCode; hint?: string; where?: Location; details?: string[]; cause?: unknown } = {},
  ) {
    super(`app ${app}: ${message}`, opts);
    this.name = 'RenderError';
    this.app = app;
  }
}

/**
 * What helm's `.Capabilities` say about the target cluster (deploy and diff modes), as
 * `helm install` would see it; without them (plan mode) helm uses its built-in defaults.
 */
export interface ClusterCapabilities {
  /** The API server's version (`--kube-version`); undefined when it is no version helm can read. */
  kubeVersion?: string;
  /** Every group/version and group/version/Kind the server serves (`--api-versions`). */
  apiVersions: string[];
}
