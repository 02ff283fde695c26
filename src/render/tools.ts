import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '../util/exec.js';
import type { ClusterCapabilities } from './model.js';

/** A render that takes longer than this is stuck (a chart looping, a tool waiting on the network). */
const RENDER_TIMEOUT_MS = 5 * 60_000;

export interface HelmParameter {
  name: string;
  value: string;
  forceString?: boolean;
}

/**
 * The helm binary, for rendering only. HELM_*_HOME point into the run's private temp dir, so
 * the user's helm config and repositories are never read and nothing is written to $HOME.
 */
export class Helm {
  private readonly env: Record<string, string>;

  constructor(
    readonly bin: string,
    home: string,
  ) {
    this.env = {
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_DATA_HOME: join(home, 'data'),
    };
  }

  /** `helm template`: hooks stay, helm tests are skipped (a deploy has no place to run them); CRDs unless skipCrds, as Argo CD. */
  async template(
    a: {
      release: string;
      chart: string;
      namespace: string;
      valueFiles: string[];
      parameters: HelmParameter[];
      fileParameters?: { name: string; file: string }[];
      skipCrds?: boolean;
      capabilities?: ClusterCapabilities;
    },
    signal?: AbortSignal,
  ): Promise<string> {
    // every value joined to its flag, and the release and chart after "--": nothing a root entry
    // writes (a parameter named --post-renderer, a release name -x) can be read as another flag
    const argv = ['template', '--namespace', a.namespace, ...(a.skipCrds ? [] : ['--include-crds']), '--skip-tests'];
    argv.push(...capabilityFlags(a.capabilities, '--kube-version', '--api-versions'));
    for (const f of a.valueFiles) argv.push(`--values=${f}`);
    for (const p of a.parameters) argv.push(`${p.forceString ? '--set-string' : '--set'}=${p.name}=${escapeSetValue(p.value)}`);
    for (const f of a.fileParameters ?? []) argv.push(`--set-file=${f.name}=${escapeSetValue(f.file)}`);
    argv.push('--', a.release, a.chart);
    const r = await runTool(this.bin, argv, { env: this.env, timeoutMs: RENDER_TIMEOUT_MS, signal });
    return r.stdout;
  }
}

/**
 * The cluster's version and API versions as flags, one flag per API version: a comma-joined list
 * of a cluster with many CRDs could pass the kernel's 128 KiB limit for one argument.
 */
function capabilityFlags(c: ClusterCapabilities | undefined, kubeVersionFlag: string, apiVersionsFlag: string): string[] {
  if (!c) return [];
  return [...(c.kubeVersion ? [`${kubeVersionFlag}=${c.kubeVersion}`] : []), ...c.apiVersions.map((v) => `${apiVersionsFlag}=${v}`)];
}

/** Like Argo CD: commas in a --set value are literal unless the value is a {a,b} list. */
export function escapeSetValue(v: string): string {
  if (v.startsWith('{') && v.endsWith('}')) return v;
  return v.replace(/(?<!\\),/g, '\\,');
}

/** `kubectl kustomize` with the pinned kubectl (kustomize v5.6), helmCharts inflated by the pinned helm. */
export class Kustomize {
  constructor(
    readonly kubectlBin: string,
    private readonly helmCommand: string,
    private readonly tmpDir: string,
  ) {}

  /** `helmRan`: a file the helm command creates when kustomize renders a chart with it (helmCharts). */
  async build(dir: string, capabilities?: ClusterCapabilities, signal?: AbortSignal, helmRan?: string): Promise<string> {
    const argv = ['kustomize', dir, '--enable-helm', '--helm-command', this.helmCommand];
    // helmCharts render for the cluster too, as Argo CD does it (--helm-kube-version, --helm-api-versions)
    argv.push(...capabilityFlags(capabilities, '--helm-kube-version', '--helm-api-versions'));
    // kustomize puts its helm home under TMPDIR: keep it inside the run's private temp dir
    const env = { TMPDIR: this.tmpDir, ...(helmRan ? { [HELM_RAN_VARIABLE]: helmRan } : {}) };
    const r = await runTool(this.kubectlBin, argv, { env, timeoutMs: RENDER_TIMEOUT_MS, signal });
    return r.stdout;
  }
}

/** Names the file the helm command given to kustomize creates when it renders a chart (kustomize passes its environment on). */
const HELM_RAN_VARIABLE = 'APP_OF_APPS_PIPE_HELM_RAN';

/** What the helm command given to kustomize prints when kustomize wants to download a chart. */
export const PULL_REFUSED = 'app-of-apps-pipe: refusing to download a chart:';

/**
 * The helm command kustomize runs. Kustomize 5.6 insists on helm 3 (`helm version -c --short`
 * must say v3), while `helm template` of helm 4 takes the same arguments; and a chart kustomize
 * would `helm pull` needs the network, which a render must not use. This small script answers
 * the version check and refuses pulls; everything else goes to the pinned helm.
 */
export async function writeKustomizeHelmCommand(dir: string, helmBin: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'helm-for-kustomize');
  const quoted = `'${helmBin.replaceAll("'", `'\\''`)}'`;
  const script = [
    '#!/bin/sh',
    'case "$1" in',
    '  version) echo "v3.99.0"; exit 0 ;;',
    `  pull) echo "${PULL_REFUSED} helm $*" >&2; exit 1 ;;`,
    `  template) if [ -n "$${HELM_RAN_VARIABLE}" ]; then : > "$${HELM_RAN_VARIABLE}"; fi ;;`,
    'esac',
    `exec ${quoted} "$@"`,
    '',
  ].join('\n');
  await writeFile(path, script, { mode: 0o700 });
  await chmod(path, 0o700);
  return path;
}
