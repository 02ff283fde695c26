import { z } from 'zod';
import type { DeployedApp, DeployedState } from '../plan/model.js';
import { PipeError } from '../util/errors.js';
import { LABEL, MANAGED_BY, labelValue } from './audit.js';
import { KubeApiError, type KubeClient } from './client.js';
import { LEDGER_LABEL, environmentSlug, isLegacyLedgerName, ledgerName, legacyLedgerName } from './names.js';

/** The field manager of the ledger's ConfigMaps (not FIELD_MANAGER: they are the pipe's own records, not the user's objects). */
const LEDGER_FIELD_MANAGER = 'app-of-apps-pipe-ledger';

/**
 * The deploy ledger: one ConfigMap per app and environment in the pipe's namespace, its JSON
 * entry under the key "entry". Written only after an app is healthy; read as the next run's base.
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

/** Largest entry the pipe writes: each is one ConfigMap, which holds at most 1 MiB (about 15,000 objects). */
export const MAX_ENTRY_BYTES = 1_000_000;

/** The data key of a ledger ConfigMap that holds its entry. */
export const ENTRY_KEY = 'entry';

interface ConfigMap {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}

/**
 * Decodes ledger ConfigMaps, one entry each. A ConfigMap whose entry cannot be read is a problem
 * named by the ConfigMap (its app counts as never deployed), not a failed run.
 */
export function decodeLedger(items: readonly Pick<ConfigMap, 'metadata' | 'data'>[]): { entries: Map<string, LedgerEntry>; problems: string[] } {
  const entries = new Map<string, LedgerEntry>();
  const problems: string[] = [];
  for (const cm of items) {
    const text = cm.data?.[ENTRY_KEY];
    const decoded = text === undefined ? { problem: `has no "${ENTRY_KEY}" key` } : decodeEntry(text);
    if ('entry' in decoded) entries.set(decoded.entry.app, decoded.entry);
    else problems.push(`ConfigMap ${cm.metadata.name}: ${decoded.problem}`);
  }
  return { entries, problems };
}

/** One entry's JSON text: the entry, or what is wrong with it. */
function decodeEntry(text: string): { entry: LedgerEntry } | { problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { problem: 'the entry is not JSON' };
  }
  const parsed = LedgerEntry.safeParse(json);
  return parsed.success ? { entry: parsed.data } : { problem: parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ') };
}

export function encodeEntry(e: LedgerEntry): string {
  return JSON.stringify(e);
}

/**
 * The encoded entry, or an error when it would not fit its ConfigMap: checked before an app is
 * applied (with every object it could record) and again at the write.
 */
export function checkEntrySize(entry: LedgerEntry): string {
  const text = encodeEntry(entry);
  if (text.length > MAX_ENTRY_BYTES) {
    throw new PipeError(`the deploy ledger entry of app ${entry.app} would be ${text.length} bytes (${entry.objects.length} objects), over a ConfigMap's 1 MiB`, {
      hint: `split app ${entry.app} into several apps`,
    });
  }
  return text;
}

export function toDeployedApp(e: LedgerEntry): DeployedApp {
  return { app: e.app, commit: e.commit, digest: e.digest, deployedAt: e.deployedAt, buildNumber: e.buildNumber, triggerer: e.triggerer, failed: e.failed };
}

export interface LedgerSnapshot {
  /** "ledger of environment production (ConfigMaps -l app-of-apps.io/ledger=production in ns)" */
  source: string;
  /** The entries of this repository's apps (all of them when the repository is not known). */
  entries: Map<string, LedgerEntry>;
  /** Entries another repository wrote to the same environment's ledger: neither this run's base, nor removed, nor pruned. */
  foreign: Map<string, LedgerEntry>;
  problems: string[];
  /**
   * The environment's ledger in the format of earlier versions (one ConfigMap for every app), when
   * it is still there: its entries count (an app's own ConfigMap wins), and a deploy moves them to
   * ConfigMaps of their own (`migrateLegacyLedger`).
   */
  legacy?: { name: string; resourceVersion?: string; entries: LedgerEntry[] };
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

/** Every ConfigMap of the namespace that a label selector picks, page by page (a ledger of thousands of apps is one list of a few pages). */
async function listConfigMaps(client: KubeClient, namespace: string, labelSelector: string, signal?: AbortSignal): Promise<ConfigMap[]> {
  const items: ConfigMap[] = [];
  let next: string | undefined;
  do {
    const res = await client.request<{ items?: ConfigMap[]; metadata?: { continue?: string } }>('GET', cmPath(namespace), {
      query: { labelSelector, limit: 500, ...(next ? { continue: next } : {}) },
      signal,
    });
    items.push(...(res.body.items ?? []));
    next = res.body.metadata?.continue || undefined;
  } while (next);
  return items;
}

/** How messages name an environment's ledger. */
export function ledgerSource(namespace: string, environment: string | undefined): string {
  return `ledger of environment ${environment ?? 'default'} (ConfigMaps -l ${LEDGER_LABEL}=${environmentSlug(environment)} in ${namespace})`;
}

export async function readLedger(client: KubeClient, namespace: string, environment: string | undefined, repo: RepositoryId | undefined, signal?: AbortSignal): Promise<LedgerSnapshot> {
  const source = ledgerSource(namespace, environment);
  try {
    const [items, old] = await Promise.all([
      listConfigMaps(client, namespace, `${LEDGER_LABEL}=${environmentSlug(environment)}`, signal),
      client.get<ConfigMap & { metadata: { resourceVersion?: string } }>(cmPath(namespace, legacyLedgerName(environment)), { signal }),
    ]);
    const { entries, problems } = decodeLedger(items);
    let legacy: LedgerSnapshot['legacy'];
    if (old) {
      const decoded = decodeLegacyLedger(old.data);
      problems.push(...decoded.problems.map((p) => `ConfigMap ${old.metadata.name}: ${p}`));
      // an app's own ConfigMap is newer than the one-ConfigMap ledger it was moved out of
      const moved = [...decoded.entries.values()].filter((e) => !entries.has(e.app));
      for (const e of moved) entries.set(e.app, e);
      legacy = { name: old.metadata.name, resourceVersion: old.metadata.resourceVersion, entries: moved };
    }
    return { source, ...splitByRepository(entries, repo), problems, ...(legacy ? { legacy } : {}) };
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 403) {
      throw new PipeError(`cannot read the deploy ledger (${source}): ${err.body.message ?? 'forbidden'}`, {
        hint: `let the deploy identity get, list, create, patch and delete configmaps and get, create, update and delete leases in namespace ${namespace} (LEDGER_NAMESPACE)`,
        cause: err,
      });
    }
    throw err;
  }
}

/**
 * The entries of every other environment's ledger in the namespace (one list of the pipe's ledger
 * ConfigMaps there): what other environments deployed, for prune's namespace check. Entries that
 * cannot be read are skipped; a failed list is thrown (the caller cannot tell, and keeps).
 */
export async function otherLedgers(client: KubeClient, namespace: string, environment: string | undefined, signal?: AbortSignal): Promise<{ environment: string; entries: LedgerEntry[] }[]> {
  // the other environments' entries, and the pipe's ConfigMaps that are no entry (ledgers in the
  // one-ConfigMap format of earlier versions among them): this environment's entries never cross the wire
  const own = environmentSlug(environment);
  const [entries, others] = await Promise.all([
    listConfigMaps(client, namespace, `${LEDGER_LABEL},${LEDGER_LABEL}!=${own}`, signal),
    listConfigMaps(client, namespace, `${LABEL.managedBy}=${MANAGED_BY},!${LEDGER_LABEL}`, signal),
  ]);
  const byEnvironment = new Map<string, LedgerEntry[]>();
  const add = (env: string, found: Iterable<LedgerEntry>) => {
    const list = byEnvironment.get(env) ?? [];
    if (!byEnvironment.has(env)) byEnvironment.set(env, list);
    list.push(...found);
  };
  for (const cm of entries) add(cm.metadata.labels?.[LABEL.environment] ?? cm.metadata.labels![LEDGER_LABEL]!, decodeLedger([cm]).entries.values());
  for (const cm of others) {
    if (isLegacyLedgerName(cm.metadata.name) && cm.metadata.name !== legacyLedgerName(environment)) add(cm.metadata.labels?.[LABEL.environment] ?? cm.metadata.name, decodeLegacyLedger(cm.data).entries.values());
  }
  return [...byEnvironment].map(([env, entries]) => ({ environment: env, entries }));
}

/** The one ConfigMap for every app of an environment that earlier versions wrote: one data key per app. */
export function decodeLegacyLedger(data: Record<string, string> | undefined): { entries: Map<string, LedgerEntry>; problems: string[] } {
  const entries = new Map<string, LedgerEntry>();
  const problems: string[] = [];
  for (const [key, text] of Object.entries(data ?? {})) {
    const decoded = decodeEntry(text);
    if ('entry' in decoded) entries.set(decoded.entry.app, decoded.entry);
    else problems.push(`entry ${key}: ${decoded.problem}`);
  }
  return { entries, problems };
}

/**
 * Moves a ledger of the earlier format to ConfigMaps of their own, every repository's entries
 * included, then deletes it (only if nobody wrote it since it was read). Run under the lock.
 */
export async function migrateLegacyLedger(client: KubeClient, namespace: string, snapshot: LedgerSnapshot, writer: LedgerWriter, logger: { info(m: string): void; warn(m: string): void }, signal?: AbortSignal): Promise<void> {
  const legacy = snapshot.legacy;
  if (!legacy) return;
  for (let i = 0; i < legacy.entries.length; i += 16) await Promise.all(legacy.entries.slice(i, i + 16).map((e) => writer.record(e)));
  try {
    await client.request('DELETE', cmPath(namespace, legacy.name), { body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { resourceVersion: legacy.resourceVersion } }, signal });
  } catch (err) {
    if (!(err instanceof KubeApiError && err.status === 404)) {
      // every entry has its own ConfigMap now, which wins over the old one: nothing is lost if it stays
      logger.warn(
        `deploy ledger: the entries of ConfigMap ${namespace}/${legacy.name} (the format of earlier versions) were copied to a ConfigMap per app, but it could not be deleted (${(err as Error).message}); it is read again, and its copies win. Delete it with kubectl delete configmap -n ${namespace} ${legacy.name}`,
      );
      return;
    }
  }
  logger.info(`deploy ledger: moved ${legacy.entries.length} entries of ConfigMap ${namespace}/${legacy.name} (the format of earlier versions) to a ConfigMap per app`);
}

export function deployedState(snapshot: LedgerSnapshot): DeployedState {
  return { source: snapshot.source, apps: new Map([...snapshot.entries].map(([k, e]) => [k, toDeployedApp(e)])) };
}

/**
 * Writes ledger entries: each app's entry is its own ConfigMap, written with server-side apply
 * (created or replaced in one request) and deleted when the app leaves the ledger. Apps never
 * share an object, so apps finishing together never contend, and the ledger has no size limit
 * but an app's own (one ConfigMap, 1 MiB). The environment lock keeps other runs out; writes for
 * one app are kept in order.
 */
export class LedgerWriter {
  private readonly pending = new Map<string, Promise<void>>();
  writes = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly environment: string | undefined,
  ) {}

  record(entry: LedgerEntry): Promise<void> {
    return this.inOrder(entry.app, () => this.write(entry));
  }

  remove(app: string): Promise<void> {
    return this.inOrder(app, () => this.delete(app));
  }

  private inOrder(app: string, op: () => Promise<void>): Promise<void> {
    const done = (this.pending.get(app) ?? Promise.resolve()).catch(() => undefined).then(op);
    const settled = done.catch(() => undefined);
    this.pending.set(app, settled);
    void settled.then(() => {
      if (this.pending.get(app) === settled) this.pending.delete(app);
    });
    return done;
  }

  private async write(entry: LedgerEntry): Promise<void> {
    const name = ledgerName(this.environment, entry.app);
    const text = checkEntrySize(entry);
    const body: ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name,
        namespace: this.namespace,
        labels: {
          [LABEL.managedBy]: MANAGED_BY,
          [LEDGER_LABEL]: environmentSlug(this.environment),
          [LABEL.app]: labelValue(entry.app),
          ...(this.environment ? { [LABEL.environment]: labelValue(this.environment) } : {}),
        },
      },
      data: { [ENTRY_KEY]: text },
    };
    try {
      this.writes++;
      await this.client.request('PATCH', cmPath(this.namespace, name), {
        body,
        contentType: 'application/apply-patch+yaml',
        query: { fieldManager: LEDGER_FIELD_MANAGER, force: 'true' },
      });
    } catch (err) {
      throw new PipeError(`cannot write the deploy ledger entry of app ${entry.app} (ConfigMap ${this.namespace}/${name}): ${(err as Error).message}`, { cause: err });
    }
  }

  private async delete(app: string): Promise<void> {
    const name = ledgerName(this.environment, app);
    try {
      this.writes++;
      await this.client.request('DELETE', cmPath(this.namespace, name));
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return;
      throw new PipeError(`cannot remove the deploy ledger entry of app ${app} (ConfigMap ${this.namespace}/${name}): ${(err as Error).message}`, { cause: err });
    }
  }
}
