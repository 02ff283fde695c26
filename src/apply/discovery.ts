import { z } from 'zod';
import type { K8sObject } from '../render/model.js';
import { KubeApiError, type KubeClient } from './client.js';

/** Where a kind lives on the API server. */
export interface ResourceInfo {
  group: string;
  version: string;
  kind: string;
  /** Plural resource name used in paths (deployments). */
  resource: string;
  namespaced: boolean;
}

const ResourceList = z.object({
  resources: z.array(z.object({ name: z.string(), kind: z.string(), namespaced: z.boolean() })),
});

/** Aggregated discovery (Kubernetes 1.26+; GA in 1.30): every group, version and resource in one answer. */
const GroupDiscoveryList = z.object({
  kind: z.literal('APIGroupDiscoveryList'),
  items: z.array(
    z.object({
      metadata: z.object({ name: z.string().optional() }).optional(),
      versions: z
        .array(
          z.object({
            version: z.string(),
            resources: z.array(z.object({ resource: z.string(), responseKind: z.object({ kind: z.string() }).nullish(), scope: z.string() })).nullish(),
          }),
        )
        .nullish(),
    }),
  ),
});
const AGGREGATED =
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';
const ApiVersions = z.object({ versions: z.array(z.string()) });
const ApiGroupList = z.object({ groups: z.array(z.object({ versions: z.array(z.object({ groupVersion: z.string() })) })) });

/** Every group/version the server serves (`v1`, `apps/v1`), each with its kinds: what `Discovery.all` answers. */
export type ServedResources = Map<string, Map<string, ResourceInfo>>;

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.indexOf('/');
  return i < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

/** /api/v1/namespaces/ns/configmaps/name, /apis/apps/v1/deployments ... */
export function resourcePath(info: ResourceInfo, namespace?: string, name?: string): string {
  const root = info.group ? `/apis/${info.group}/${info.version}` : `/api/${info.version}`;
  const ns = info.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${root}${ns}/${info.resource}${name ? `/${encodeURIComponent(name)}` : ''}`;
}

export function objectPath(info: ResourceInfo, o: Pick<K8sObject, 'metadata'>): string {
  return resourcePath(info, o.metadata.namespace, o.metadata.name);
}

/**
 * Discovery, fetched lazily per group/version and cached for the run (kubectl caches it on disk;
 * one request per group/version the run touches is cheaper than both).
 */
export class Discovery {
  private readonly cache = new Map<string, Promise<Map<string, ResourceInfo> | undefined>>();

  /** `known`: what an earlier `all()` of the run found, so the engine does not ask again. */
  constructor(
    private readonly client: KubeClient,
    known?: ServedResources,
  ) {
    // an empty group/version (an aggregated API that was down) is asked again, as all() leaves it
    for (const [apiVersion, kinds] of known ?? []) if (kinds.size) this.cache.set(apiVersion, Promise.resolve(kinds));
  }

  async find(apiVersion: string, kind: string, signal?: AbortSignal): Promise<ResourceInfo | undefined> {
    return (await this.groupVersion(apiVersion, signal))?.get(kind);
  }

  /**
   * Everything the server serves, as `helm install` sees it: one aggregated discovery request each
   * for /api and /apis; from older servers, the group list and then each group/version (one that
   * does not answer, an aggregated API that is down, is listed without kinds, as helm tolerates it).
   */
  async all(signal?: AbortSignal): Promise<ServedResources> {
    const [core, groups] = await Promise.all(['/api', '/apis'].map((path) => this.client.request('GET', path, { accept: AGGREGATED, signal }).then((r) => r.body)));
    const aggregated = [core, groups].map((body) => GroupDiscoveryList.safeParse(body));
    const served: ServedResources = new Map();
    if (aggregated.every((a) => a.success)) {
      for (const item of aggregated.flatMap((a) => a.data!.items)) {
        const group = item.metadata?.name ?? '';
        for (const v of item.versions ?? []) {
          const kinds = new Map<string, ResourceInfo>();
          for (const r of v.resources ?? []) {
            if (r.responseKind?.kind) kinds.set(r.responseKind.kind, { group, version: v.version, kind: r.responseKind.kind, resource: r.resource, namespaced: r.scope === 'Namespaced' });
          }
          served.set(group ? `${group}/${v.version}` : v.version, kinds);
        }
      }
    } else {
      const apiVersions = [...ApiVersions.parse(core).versions, ...ApiGroupList.parse(groups).groups.flatMap((g) => g.versions.map((v) => v.groupVersion))];
      const loaded = await Promise.all(apiVersions.map((gv) => this.groupVersion(gv, signal).catch(() => undefined)));
      apiVersions.forEach((gv, i) => served.set(gv, loaded[i] ?? new Map()));
    }
    for (const [apiVersion, kinds] of served) if (kinds.size) this.cache.set(apiVersion, Promise.resolve(kinds));
    return served;
  }

  /** Forget a group/version (a CRD was just established, or its versions changed). */
  invalidate(apiVersion: string): void {
    this.cache.delete(apiVersion);
  }

  private groupVersion(apiVersion: string, signal?: AbortSignal): Promise<Map<string, ResourceInfo> | undefined> {
    let entry = this.cache.get(apiVersion);
    if (!entry) {
      entry = this.load(apiVersion, signal);
      this.cache.set(apiVersion, entry);
      entry.catch(() => this.cache.delete(apiVersion));
    }
    return entry;
  }

  private async load(apiVersion: string, signal?: AbortSignal): Promise<Map<string, ResourceInfo> | undefined> {
    const { group, version } = splitApiVersion(apiVersion);
    const path = group ? `/apis/${group}/${version}` : `/api/${version}`;
    let body: unknown;
    try {
      body = (await this.client.request('GET', path, { signal })).body;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
    const list = ResourceList.parse(body);
    const map = new Map<string, ResourceInfo>();
    for (const r of list.resources) {
      if (r.name.includes('/')) continue; // subresources (deployments/scale)
      map.set(r.kind, { group, version, kind: r.kind, resource: r.name, namespaced: r.namespaced });
    }
    return map;
  }
}
