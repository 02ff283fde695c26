import { z } from 'zod';
import type { DeployedApp, DeployedState } from '../plan/model.js';
import { PipeError } from '../util/errors.js';
import { LABEL, MANAGED_BY, labelValue } from './audit.js';
import { KubeApiError, type KubeClient } from './client.js';
import { LEDGER_PREFIX, ledgerKey, ledgerName } from './names.js';

/**
 * The deploy ledger: one ConfigMap per environment in the pipe's namespace, one data key per app
 * holding a JSON entry. Written only after an app is healthy; read as the next run's base.
 */
export const LedgerEntry = z.object({
  app: z.string(),
  commit: z.string(),
  digest: z.string().optional(),
  deployedAt: z.string(),
  buildNumber: z.string().optional(),
  triggerer: z.string().optional(),
  repository: z.string().optional(),
  /** BITBUCKET_REPO_UUID of the deploying repository: stays when the repository is renamed or moved. */
  repositoryUuid: z.string().optional(),
  /** Inventory refs of the objects applied ("apps/v1 Deployment web/api"): what prune works from. */
  objects: z.array(z.string()).default([]),
  /**
   * A later attempt that failed after it had changed objects: the cluster is no longer what
   * `commit` rendered, so the next run deploys the app whatever git says (a revert included).
   */
  failed: z.object({ commit: z.string(), at: z.string() }).optional(),
});
export type LedgerEntry = z.output<typeof LedgerEntry>;

/** Largest ledger the pipe writes: a ConfigMap holds at most 1 MiB. */
export const MAX_LEDGER_BYTES = 1_000_000;

interface ConfigMap {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}

export function decodeLedger(data: Record<string, string> | undefined): { entries: Map<string, LedgerEntry>; problems: string[] } {
  const entries = new Map<string, LedgerEntry>();
  const problems: string[] = [];
  for (const [key, text] of Object.entries(data ?? {})) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      problems.push(`entry ${key} is not JSON`);
      continue;
    }
    const parsed = LedgerEntry.safeParse(json);
    if (parsed.success) entries.set(parsed.data.app, parsed.data);
    else problems.push(`entry ${key}: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
  }
  return { entries, problems };
}

export function encodeEntry(e: LedgerEntry): string {
  return JSON.stringify(e);
}

export function toDeployedApp(e: LedgerEntry): DeployedApp {
  return { app: e.app, commit: e.commit, digest: e.digest, deployedAt: e.deployedAt, buildNumber: e.buildNumber, triggerer: e.triggerer, failed: e.failed };
}

export interface LedgerSnapshot {
  /** "ledger ConfigMap ns/name" */
  source: string;
  /** The entries of this repository's apps (all of them when the repository is not known). */
  entries: Map<string, LedgerEntry>;
  /** Entries another repository wrote to the same environment's ledger: neither this run's base, nor removed, nor pruned. */
  foreign: Map<string, LedgerEntry>;
  problems: string[];
}

/** Which repository is deploying (Bitbucket's BITBUCKET_REPO_UUID and BITBUCKET_REPO_FULL_NAME); unknown when run elsewhere. */
export interface RepositoryId {
  uuid?: string;
  fullName?: string;
}

/** Whether another repository wrote an entry: by UUID when both have one, else by full name; unknown counts as this one. */
export function fromOtherRepository(e: Pick<LedgerEntry, 'repository' | 'repositoryUuid'>, repo: RepositoryId | undefined): boolean {
  if (e.repositoryUuid && repo?.uuid) return e.repositoryUuid.toLowerCase() !== repo.uuid.toLowerCase();
  if (e.repository && repo?.fullName) return e.repository.toLowerCase() !== repo.fullName.toLowerCase();
  return false;
}

/** Splits decoded entries into this repository's and the others'. */
export function splitByRepository(entries: Map<string, LedgerEntry>, repo: RepositoryId | undefined): Pick<LedgerSnapshot, 'entries' | 'foreign'> {
  const mine = new Map<string, LedgerEntry>();
  const foreign = new Map<string, LedgerEntry>();
  for (const [app, e] of entries) (fromOtherRepository(e, repo) ? foreign : mine).set(app, e);
  return { entries: mine, foreign };
}

const cmPath = (namespace: string, name?: string) => `/api/v1/namespaces/${namespace}/configmaps${name ? `/${name}` : ''}`;

export async function readLedger(client: KubeClient, namespace: string, environment: string | undefined, repo: RepositoryId | undefined, signal?: AbortSignal): Promise<LedgerSnapshot> {
  const name = ledgerName(environment);
  const source = `ledger ConfigMap ${namespace}/${name}`;
  try {
    const cm = await client.get<ConfigMap>(cmPath(namespace, name), { signal });
    const { entries, problems } = decodeLedger(cm?.data);
    return { source, ...splitByRepository(entries, repo), problems };
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 403) {
      throw new PipeError(`cannot read the deploy ledger (${source}): ${err.body.message ?? 'forbidden'}`, {
        hint: `let the deploy identity get, create and update configmaps and leases in namespace ${namespace} (LEDGER_NAMESPACE)`,
        cause: err,
      });
    }
    throw err;
  }
}

/**
 * The entries of every other environment's ledger in the namespace (one list of the pipe's
 * ConfigMaps there): what other environments deployed, for prune's namespace check. Entries that
 * cannot be read are skipped; a failed list is thrown (the caller cannot tell, and keeps).
 */
export async function otherLedgers(client: KubeClient, namespace: string, environment: string | undefined, signal?: AbortSignal): Promise<{ environment: string; entries: LedgerEntry[] }[]> {
  const own = ledgerName(environment);
  const res = await client.request<{ items?: ConfigMap[] }>('GET', cmPath(namespace), { query: { labelSelector: `${LABEL.managedBy}=${MANAGED_BY}` }, signal });
  return (res.body.items ?? [])
    .filter((cm) => cm.metadata.name !== own && cm.metadata.name.startsWith(LEDGER_PREFIX))
    .map((cm) => ({ environment: cm.metadata.labels?.[LABEL.environment] ?? cm.metadata.name, entries: [...decodeLedger(cm.data).entries.values()] }));
}

export function deployedState(snapshot: LedgerSnapshot): DeployedState {
  return { source: snapshot.source, apps: new Map([...snapshot.entries].map(([k, e]) => [k, toDeployedApp(e)])) };
}

/**
 * Writes ledger entries. Entries recorded while a write is in flight are coalesced into the next
 * write (one PUT for many apps finishing together); every write is read-modify-write on the
 * ConfigMap's resourceVersion, so concurrent writers (another run, another environment's tool)
 * never lose each other's entries: a 409 re-reads and merges again.
 */
export class LedgerWriter {
  private chain: Promise<void> = Promise.resolve();
  private batch: Map<string, LedgerEntry | null> | undefined;
  private batchDone: Promise<void> | undefined;
  writes = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly environment: string | undefined,
  ) {}

  record(entry: LedgerEntry): Promise<void> {
    return this.enqueue(entry.app, entry);
  }

  remove(app: string): Promise<void> {
    return this.enqueue(app, null);
  }

  private enqueue(app: string, value: LedgerEntry | null): Promise<void> {
    if (!this.batch) {
      const batch = new Map<string, LedgerEntry | null>();
      this.batch = batch;
      this.batchDone = this.chain.then(() => {
        this.batch = undefined;
        return this.write(batch);
      });
      this.chain = this.batchDone.catch(() => undefined);
    }
    this.batch.set(app, value);
    return this.batchDone!;
  }

  private async write(batch: Map<string, LedgerEntry | null>): Promise<void> {
    const name = ledgerName(this.environment);
    for (let attempt = 1; ; attempt++) {
      const current = await this.client.get<ConfigMap>(cmPath(this.namespace, name));
      const data = { ...(current?.data ?? {}) };
      for (const [app, entry] of batch) {
        if (entry) data[ledgerKey(app)] = encodeEntry(entry);
        else delete data[ledgerKey(app)];
      }
      const size = Object.entries(data).reduce((n, [k, v]) => n + k.length + v.length, 0);
      if (size > MAX_LEDGER_BYTES) {
        throw new PipeError(`the deploy ledger ${this.namespace}/${name} would grow to ${size} bytes, over a ConfigMap's 1 MiB`, {
          hint: 'split the environment into several root manifests or environments',
        });
      }
      const labels = { [LABEL.managedBy]: MANAGED_BY, ...(this.environment ? { [LABEL.environment]: labelValue(this.environment) } : {}) };
      const body: ConfigMap = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name, namespace: this.namespace, labels, ...(current ? { resourceVersion: current.metadata.resourceVersion } : {}) },
        data,
      };
      try {
        this.writes++;
        if (current) await this.client.request('PUT', cmPath(this.namespace, name), { body });
        else await this.client.request('POST', cmPath(this.namespace), { body });
        return;
      } catch (err) {
        // Someone else wrote in between: read again and merge.
        if (err instanceof KubeApiError && err.status === 409 && attempt < 20) continue;
        throw new PipeError(`cannot write the deploy ledger ${this.namespace}/${name}: ${(err as Error).message}`, { cause: err });
      }
    }
  }
}
