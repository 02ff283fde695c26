// The files that make a folder a kustomization or a Helm chart, as kustomize, helm and Argo CD
// look for them. One list for the loader (type detection), the plan (what a manifest reaches) and
// render; kept free of imports so the plan does not load the root loader for it.

/** The names kustomize accepts for a kustomization, in the order it looks for them. */
export const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

/** A chart's own file and the Helm 2 dependency list: together, what says whether it needs chart repositories. */
export const CHART_FILES = ['Chart.yaml', 'requirements.yaml'];

/**
 * A kustomize reference kustomize fetches over the network rather than reading from the
 * repository: a URL (not file://), `git@host:...`, anything with `?ref=`, or a host name first
 * (`github.com/org/repo/path`). The plan notes them (never watched); render names them when the
 * fetch fails.
 */
export function isRemote(ref: string): boolean {
  return (/^[a-z][a-z0-9+.-]*:\/\//i.test(ref) && !ref.startsWith('file://')) || ref.startsWith('git@') || ref.includes('?ref=') || /^[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}\//i.test(ref);
}
