/**
 * The resolved App-of-Apps model: what every later stage sees, whatever the root's form
 * (native app-of-apps.yaml, a directory of Argo CD Applications, or a Helm chart rendering them).
 * Everything here is already resolved for one environment.
 */
export type SourceType = 'directory' | 'kustomize' | 'helm';

export interface Origin {
  /** Repository-relative file the app is declared in. */
  file: string;
  line?: number;
}

export interface DirectoryOptions {
  recurse: boolean;
  /** Glob(s) relative to the app path, Argo CD semantics ("{a.yaml,b.yaml}" brace lists allowed). */
  include?: string;
  exclude?: string;
}

export interface HelmOptions {
  releaseName: string;
  /** Repository-relative paths, in order. */
  valueFiles: string[];
  /** Inline values (YAML text or object), applied after valueFiles. */
  values?: Record<string, unknown>;
  /** --set / --set-string parameters, applied last. */
  parameters: { name: string; value: string; forceString?: boolean }[];
  /**
   * Values files listed but absent (Argo CD's ignoreMissingValueFiles): not rendered, still
   * dependencies, so deleting one, or adding it back, changes the app.
   */
  missingValueFiles?: string[];
  /** Argo CD's helm.namespace: the namespace helm renders with (.Release.Namespace); objects still go to the app's namespace. */
  namespace?: string;
  /** Argo CD's helm.skipCrds: the chart's crds/ folder is not rendered. */
  skipCrds?: boolean;
  /** --set-file: each value is the text of a repository file (repository-relative path), applied after the parameters. */
  fileParameters?: { name: string; path: string }[];
}

export interface KustomizeOptions {
  namePrefix?: string;
  nameSuffix?: string;
  images?: string[];
  commonLabels?: Record<string, string>;
  commonAnnotations?: Record<string, string>;
  /** Argo CD's commonAnnotationsEnvsubst: the annotation values take the build environment (build-environment.ts). */
  commonAnnotationsEnvsubst?: boolean;
  /** `kustomize edit set namespace`: the namespace of every namespaced object the kustomization renders. */
  namespace?: string;
  /** `kustomize edit set replicas`: replaces the kustomization's entry of the same name. */
  replicas?: { name: string; count: number }[];
  /** Component folders relative to the app's path, as written: appended to the kustomization's components. */
  components?: string[];
  /** Argo CD's ignoreMissingComponents: a component folder that does not exist is left out instead of failing. */
  ignoreMissingComponents?: boolean;
  /** Inline patches, appended to the kustomization's own. */
  patches?: Record<string, unknown>[];
  /**
   * Fields whose keys the kustomization may not set already (Argo CD without forceCommonLabels /
   * forceCommonAnnotations: `kustomize edit add` fails on them). Unset: the app's value replaces it.
   */
  clashFails?: ('commonLabels' | 'commonAnnotations')[];
}

export interface App {
  /** Unique name; the app's id in every message. */
  name: string;
  /** Repository-relative POSIX path of the source to render (the environment's overlay when there is one). */
  path: string;
  type: SourceType;
  namespace: string;
  createNamespace: boolean;
  prune: boolean;
  wait: boolean;
  timeoutSeconds: number;
  serverSideApply: boolean;
  pruneLast: boolean;
  /**
   * Prune may delete everything the app deployed when it renders nothing (Argo CD's
   * syncPolicy.automated.allowEmpty); without it the apply engine refuses. Optional until the
   * root manifest reads it.
   */
  allowEmpty?: boolean;
  dependsOn: string[];
  /** Argo CD sync wave of the app itself (orders apps; a failure stops higher waves). */
  syncWave: number;
  /** Extra repository-relative globs whose change makes the app "changed". */
  watch: string[];
  directory?: DirectoryOptions;
  helm?: HelmOptions;
  kustomize?: KustomizeOptions;
  /** Where the app is declared (the native root's entry, or the Application's file). */
  origin: Origin;
  /**
   * Argo CD's build environment, for an imported Application whose helm parameters or kustomize
   * images, labels or annotations use it: what the Application gives it (ARGOCD_APP_NAME, ...),
   * and whether they use the commit being deployed (ARGOCD_APP_REVISION), which makes the app
   * change with every commit. The render substitutes it (build-environment.ts).
   */
  buildEnvironment?: { variables: Record<string, string>; usesRevision: boolean };
  /** Things the user should know about how the app was read (ignored targetRevision, ...); shown in the plan. */
  notes?: string[];
  /**
   * Stable digest of everything the root says about this app for this environment
   * (a change to it makes the app changed even if no file under its path changed).
   */
  definitionDigest: string;
}

/** A child the pipe cannot render: reported per app, never silently dropped. */
export interface UnsupportedApp {
  name: string;
  reason: string;
  origin: Origin;
  /** What kind of source it is ("jsonnet", "plugin", "remote chart", "another repository", ...), for the plan's type column. */
  source?: string;
}

export interface ClusterRef {
  name?: string;
  region?: string;
}

export interface Environment {
  name: string;
  cluster?: ClusterRef;
  roleArn?: string;
  /** Namespaces apps may write to; undefined = no restriction. */
  allowedNamespaces?: string[];
  /** Cluster-scoped kinds apps may write; undefined = no restriction. */
  allowedClusterKinds?: string[];
}

export type RootFormat = 'native' | 'argocd-file' | 'argocd-directory' | 'argocd-helm';

export interface Root {
  format: RootFormat;
  /** Repository-relative path of the root manifest (file or directory). */
  file: string;
  /** The environment the apps were resolved for (undefined when the root declares none). */
  environment?: Environment;
  environments: string[];
  apps: App[];
  /** Apps disabled for this environment (listed in plan output, never deployed). */
  disabled: string[];
  unsupported: UnsupportedApp[];
  /** Root-wide notes (objects in an Argo CD root that are not Applications, environment used as a label, ...). */
  notes?: string[];
}
