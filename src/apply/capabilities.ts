import { z } from 'zod';
import type { ClusterCapabilities } from '../render/model.js';
import { KubeClient } from './client.js';
import { connect, type ClusterEndpoint } from './connection.js';
import { Discovery, type ServedResources } from './discovery.js';
import { clusterError } from './errors.js';

const Version = z.object({ gitVersion: z.string(), major: z.string().optional(), minor: z.string().optional() });
/** Helm reads --kube-version as semver (Masterminds): v1.33.13, v1.30.4-eks-a737599, v1.30.4+k3s1. */
const SEMVER = /^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;

/**
 * The version helm is told the cluster has: the server's gitVersion, as `helm install` uses it;
 * from major and minor when gitVersion is no semver ("1.28+" style minors lose the "+").
 */
export function helmKubeVersion(v: z.output<typeof Version>): string | undefined {
  if (SEMVER.test(v.gitVersion)) return v.gitVersion;
  const major = /^\d+/.exec(v.major ?? '')?.[0];
  const minor = /^\d+/.exec(v.minor ?? '')?.[0];
  return major && minor ? `v${major}.${minor}.0` : undefined;
}

/** Helm's `--api-versions` list: every group/version, and every group/version/Kind, sorted. */
export function apiVersionList(served: ServedResources): string[] {
  const out: string[] = [];
  for (const [apiVersion, kinds] of served) {
    out.push(apiVersion);
    for (const kind of kinds.keys()) out.push(`${apiVersion}/${kind}`);
  }
  return [...new Set(out)].sort();
}

export interface ClusterFacts {
  capabilities: ClusterCapabilities;
  /** The discovery answers behind them, for the engine (no second round of discovery requests). */
  served: ServedResources;
}

/** The cluster's version and everything it serves: GET /version and one discovery of every group/version. */
export async function readCapabilities(access: ClusterEndpoint, opts: { context?: string; signal?: AbortSignal } = {}): Promise<ClusterFacts> {
  const client = new KubeClient(await connect(access, { context: opts.context }));
  try {
    const [version, served] = await Promise.all([
      client.request('GET', '/version', { signal: opts.signal }).then((r) => Version.safeParse(r.body)),
      new Discovery(client).all(opts.signal),
    ]);
    const kubeVersion = version.success ? helmKubeVersion(version.data) : undefined;
    return { capabilities: { kubeVersion, apiVersions: apiVersionList(served) }, served };
  } catch (err) {
    throw clusterError(err, access.server);
  } finally {
    client.close();
  }
}
