/**
 * Argo CD's build environment: the variables Argo CD substitutes into an Application's helm
 * parameters and file parameter paths, values file paths, and kustomize images, common labels and
 * (with commonAnnotationsEnvsubst) common annotations, before it renders. The pipe substitutes the
 * same ones the same way, so an imported Application renders as Argo CD renders it.
 *
 * The values that depend only on the Application are known when the root loads; the commit
 * (ARGOCD_APP_REVISION and its short forms) is the commit being deployed, known at render time.
 */
import type { App, HelmOptions, KustomizeOptions } from './model.js';

/** Variables whose value is the commit being deployed: an app using one changes with every commit. */
export const REVISION_VARIABLES = ['ARGOCD_APP_REVISION', 'ARGOCD_APP_REVISION_SHORT', 'ARGOCD_APP_REVISION_SHORT_8'] as const;
/** Variables Argo CD fills from the target cluster; the pipe does not know their values while the root loads. */
export const CLUSTER_VARIABLES = ['KUBE_VERSION', 'KUBE_API_VERSIONS'] as const;

/** What the Application itself gives Argo CD's build environment. */
export interface ApplicationFacts {
  name: string;
  /** spec.destination.namespace as written ("" when unset). */
  namespace: string;
  /** spec.project ("default" when unset, as Argo CD reads it). */
  project: string;
  /** spec.source.path, spec.source.repoURL and spec.source.targetRevision as written. */
  sourcePath: string;
  repoUrl: string;
  targetRevision: string;
}

/** The variables known from the Application alone, by name. */
export function applicationVariables(f: ApplicationFacts): Record<string, string> {
  return {
    ARGOCD_APP_NAME: f.name,
    ARGOCD_APP_NAMESPACE: f.namespace,
    ARGOCD_APP_PROJECT_NAME: f.project,
    ARGOCD_APP_SOURCE_PATH: f.sourcePath,
    ARGOCD_APP_SOURCE_REPO_URL: f.repoUrl,
    ARGOCD_APP_SOURCE_TARGET_REVISION: f.targetRevision,
  };
}

/** The revision variables for a commit, as Argo CD sets them (7 and 8 character short forms). */
export function revisionVariables(commit: string): Record<string, string> {
  return { ARGOCD_APP_REVISION: commit, ARGOCD_APP_REVISION_SHORT: commit.slice(0, 7), ARGOCD_APP_REVISION_SHORT_8: commit.slice(0, 8) };
}

/**
 * Argo CD's Envsubst: Go's os.Expand with a map, so "$NAME" and "${NAME}" become the variable's
 * value, a name the map lacks becomes "", "$$" becomes "$", "${}" disappears and a "$" before
 * anything else stays. Ported rather than taken from an envsubst package: those follow the shell
 * or GNU gettext, which keep unknown names or read defaults ("${A:-b}"), and Argo CD does neither.
 */
export function expand(text: string, lookup: (name: string) => string): string {
  if (!text.includes('$')) return text;
  let out = '';
  let from = 0;
  for (let j = 0; j < text.length; j++) {
    if (text[j] !== '$' || j + 1 >= text.length) continue;
    out += text.slice(from, j);
    const { name, width } = shellName(text, j + 1);
    if (name === '' && width > 0) {
      // bad syntax ("${" or "${}"): Go drops it
    } else if (name === '') out += '$';
    else out += name === '$' ? '$' : lookup(name);
    j += width;
    from = j + 1;
  }
  return out + text.slice(from);
}

/** The variable names a text refers to, as expand() reads them ("$$" is no variable). */
export function variablesIn(text: string): string[] {
  const names: string[] = [];
  expand(text, (name) => {
    names.push(name);
    return '';
  });
  return names;
}

const SPECIAL = new Set(['*', '#', '$', '@', '!', '?', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
const NAME_CHAR = /[A-Za-z0-9_]/;

/** Go's getShellName: the name after a "$" at `at`, and how many characters it takes. */
function shellName(s: string, at: number): { name: string; width: number } {
  if (s[at] === '{') {
    if (s.length - at > 2 && SPECIAL.has(s[at + 1]!) && s[at + 2] === '}') return { name: s[at + 1]!, width: 3 };
    for (let i = at + 1; i < s.length; i++) {
      if (s[i] === '}') return i === at + 1 ? { name: '', width: 2 } : { name: s.slice(at + 1, i), width: i - at + 1 };
    }
    return { name: '', width: 1 };
  }
  if (SPECIAL.has(s[at]!)) return { name: s[at]!, width: 1 };
  let i = at;
  while (i < s.length && NAME_CHAR.test(s[i]!)) i++;
  return { name: s.slice(at, i), width: i - at };
}

/**
 * The one list of the texts Argo CD substitutes its build environment into when it renders: the
 * helm parameters' values, kustomize images, commonLabels values, and commonAnnotations values
 * with commonAnnotationsEnvsubst. Each goes through `sub` (with the field it is in); the options
 * come back with what it returned.
 */
export function mapSubstituted(
  helm: HelmOptions | undefined,
  kustomize: KustomizeOptions | undefined,
  sub: (text: string, field: string) => string,
): { helm: HelmOptions | undefined; kustomize: KustomizeOptions | undefined } {
  const subAll = (m: Record<string, string> | undefined, field: string) => (m ? Object.fromEntries(Object.entries(m).map(([k, v]) => [k, sub(v, `${field} ${k}`)])) : undefined);
  return {
    helm: helm && { ...helm, parameters: helm.parameters.map((p) => ({ ...p, value: sub(p.value, `helm parameter ${p.name}`) })) },
    kustomize: kustomize && {
      ...kustomize,
      images: kustomize.images?.map((image) => sub(image, 'kustomize images')),
      commonLabels: subAll(kustomize.commonLabels, 'kustomize commonLabels'),
      commonAnnotations: kustomize.commonAnnotationsEnvsubst ? subAll(kustomize.commonAnnotations, 'kustomize commonAnnotations') : kustomize.commonAnnotations,
    },
  };
}

/** The texts of an app that Argo CD substitutes its build environment into, with their fields. */
export function substitutedTexts(helm: HelmOptions | undefined, kustomize: KustomizeOptions | undefined): { field: string; text: string }[] {
  const texts: { field: string; text: string }[] = [];
  mapSubstituted(helm, kustomize, (text, field) => {
    texts.push({ field, text });
    return text;
  });
  return texts;
}

/**
 * The app as Argo CD renders it at `commit`: its build environment substituted into the helm
 * parameters and kustomize options that take it. An app without a build environment is returned as is.
 */
export function withBuildEnvironment(app: App, commit: string | undefined): App {
  const env = app.buildEnvironment;
  if (!env) return app;
  if (env.usesRevision && !commit) throw new Error(`app ${app.name} uses the commit being deployed ($ARGOCD_APP_REVISION), which the render was not given`);
  const values: Record<string, string> = { ...env.variables, ...(commit ? revisionVariables(commit) : {}) };
  return { ...app, ...mapSubstituted(app.helm, app.kustomize, (text) => expand(text, (name) => values[name] ?? '')) };
}
