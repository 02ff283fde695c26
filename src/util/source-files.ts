// The files that make a folder a kustomization or a Helm chart, as kustomize, helm and Argo CD
// look for them. One list for the loader (type detection), the plan (what a manifest reaches) and
// render; kept free of imports so the plan does not load the root loader for it.

/** The names kustomize accepts for a kustomization, in the order it looks for them. */
export const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

/** A chart's own file and the Helm 2 dependency list: together, what says whether it needs chart repositories. */
export const CHART_FILES = ['Chart.yaml', 'requirements.yaml'];
