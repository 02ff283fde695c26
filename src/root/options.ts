import { InputError, type Location } from '../util/errors.js';
import type { RepoFiles } from './files.js';
import type { HelmOptions, KustomizeOptions } from './model.js';
import type { AppEnvironment, NativeApp } from './schema.js';
import { relativeTo } from './source.js';
import type { PathKey } from './yaml.js';

// Tool options of a native app for one environment: the app's own, the environment's on top.

/** Where a key of the root manifest was written (the line looked up only for an error). */
type At = (...path: PathKey[]) => Location;

export async function helmOptions(
  a: NativeApp,
  o: AppEnvironment,
  path: string,
  files: RepoFiles,
  at: At,
  i: number,
  env: string | undefined,
  errors: InputError[],
): Promise<HelmOptions> {
  const entries: [string, PathKey[]][] = [
    ...(a.helm?.valueFiles ?? []).map((f, j): [string, PathKey[]] => [f, ['apps', i, 'helm', 'valueFiles', j]]),
    ...(o.helm?.valueFiles ?? []).map((f, j): [string, PathKey[]] => [f, ['apps', i, 'environments', env ?? '', 'helm', 'valueFiles', j]]),
  ];
  const valueFiles: string[] = [];
  for (const [raw, key] of entries) {
    const where = at(...key);
    const file = relativeTo(path, raw, where);
    if ((await files.kind(file, where)) !== 'file') {
      errors.push(
        new InputError(`app ${a.name}: values file "${raw}" (${file}) does not exist at ${files.revisionName()}`, {
          where,
          hint: `values files are relative to the chart (${path || '.'}), or to the repository root when they start with /`,
        }),
      );
    } else valueFiles.push(file);
  }
  const values = mergeValues(a.helm?.values, o.helm?.values);
  return {
    releaseName: o.helm?.releaseName ?? a.helm?.releaseName ?? a.name,
    valueFiles,
    values: values && Object.keys(values).length ? values : undefined,
    parameters: [...(a.helm?.parameters ?? []), ...(o.helm?.parameters ?? [])].map((p) => ({
      name: p.name,
      value: String(p.value),
      ...(p.forceString ? { forceString: true } : {}),
    })),
  };
}

export function kustomizeOptions(a: NativeApp, o: AppEnvironment): KustomizeOptions | undefined {
  const k: KustomizeOptions = {
    namePrefix: o.kustomize?.namePrefix ?? a.kustomize?.namePrefix,
    nameSuffix: o.kustomize?.nameSuffix ?? a.kustomize?.nameSuffix,
    images: a.kustomize?.images || o.kustomize?.images ? [...(a.kustomize?.images ?? []), ...(o.kustomize?.images ?? [])] : undefined,
    commonLabels: a.kustomize?.commonLabels || o.kustomize?.commonLabels ? { ...a.kustomize?.commonLabels, ...o.kustomize?.commonLabels } : undefined,
  };
  return Object.values(k).some((v) => v !== undefined) ? k : undefined;
}

/** Deep merge of helm values: maps merge, everything else (lists included) is replaced, as helm does. */
export function mergeValues(base?: Record<string, unknown>, over?: Record<string, unknown>): Record<string, unknown> | undefined {
  if (!over) return base;
  if (!base) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isMap(b) && isMap(v) ? mergeValues(b, v) : v;
  }
  return out;
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
