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

  constructor(private readonly client: KubeClient) {}

  async find(apiVersion: string, kind: string, signal?: AbortSignal): Promise<ResourceInfo | undefined> {
    return (await this.groupVersion(apiVersion, signal))?.get(kind);
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
