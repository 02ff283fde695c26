import { setMaxListeners } from 'node:events';
import type { Config } from '../config/index.js';
import type { AppChange, DeployedState, Plan } from '../plan/model.js';
import type { RenderedApp } from '../render/model.js';
import type { Logger } from '../report/logger.js';
import type { RunContext } from './app.js';
import { labelValue, type AuditContext } from './audit.js';
import { KubeClient } from './client.js';
import { connect, type ClusterEndpoint } from './connection.js';
import { Discovery, type ServedResources } from './discovery.js';
import { clusterError } from './errors.js';
import { itemId, itemKey, parseInventoryRef, type InventoryItem } from './inventory.js';
import { LedgerWriter, otherLedgers, type LedgerEntry, type LedgerSnapshot } from './ledger.js';
import { prepare, type PreparedApp } from './prepare.js';
import { afterGrace, CANCEL_GRACE_MS } from '../util/grace.js';

export interface EngineOptions {
  plan: Plan;
  rendered: Map<string, RenderedApp>;
  access: ClusterEndpoint;
  config: Config;
  logger: Logger;
  /** Aborted on SIGTERM: no new app starts; in-flight requests get `graceMs` to end. */
  signal: AbortSignal;
  graceMs?: number;
  /** Lease duration of the environment lock (a killed run's lock expires after it). */
  lockLeaseSeconds?: number;
  /** First poll interval of health waits. */
  pollMs?: number;
  /**
   * What the plan was made from (readDeployedState's answer). Apps another run deployed since
   * then are not overwritten blindly (see stale.ts); without it that check is skipped.
   */
  deployed?: DeployedState;
  /** What the server serves, if the run discovered it already (to render Helm charts for it). */
  served?: ServedResources;
}

export const environmentOf = (o: EngineOptions) => o.plan.environment ?? o.config.environment ?? 'default';

/**
 * Objects each app owns (rendered now, or in its ledger inventory): other apps never prune them,
 * nor the namespaces they are in (deleting a namespace deletes everything in it).
 */
function ownership(prepared: Map<string, PreparedApp>, snapshot: LedgerSnapshot, elsewhere: () => Promise<{ environment: string; entries: LedgerEntry[] }[]>): Pick<RunContext, 'protectedKeys' | 'occupiedNamespaces'> {
  const owners = new Map<string, { item: InventoryItem; apps: Set<string> }>();
  const own = (item: InventoryItem, app: string) => {
    const key = itemKey(item);
    const o = owners.get(key) ?? { item, apps: new Set<string>() };
    owners.set(key, o);
    o.apps.add(app);
  };
  for (const [app, p] of prepared) for (const t of [...p.targets, ...p.hooks]) own(parseInventoryRef(t.ref)!, app);
  for (const [app, e] of [...snapshot.entries, ...snapshot.foreign]) {
    for (const ref of e.objects) {
      const item = parseInventoryRef(ref);
      if (item) own(item, app);
    }
  }
  const others = (app: string) => [...owners].filter(([, o]) => [...o.apps].some((a) => a !== app));
  // what other environments deployed, read once and only when a Namespace is to be pruned
  let otherEnvironments: Promise<Map<string, string>> | undefined;
  const inOtherEnvironments = () =>
    (otherEnvironments ??= elsewhere().then((ledgers) => {
      const held = new Map<string, string>();
      for (const l of ledgers) {
        for (const e of l.entries) {
          for (const ref of e.objects) {
            const item = parseInventoryRef(ref);
            if (item?.namespace && !held.has(item.namespace)) held.set(item.namespace, `${itemId(item)} of app ${e.app} of environment ${l.environment}`);
          }
        }
      }
      return held;
    }));
  return {
    protectedKeys: (app) => new Set(others(app).map(([key]) => key)),
    occupiedNamespaces: (app) => async () => {
      const held = new Map(await inOtherEnvironments());
      for (const [, o] of others(app)) {
        if (o.item.namespace) held.set(o.item.namespace, `${itemId(o.item)} of app ${[...o.apps].find((a) => a !== app)}`);
      }
      return held;
    },
  };
}

function auditOf(o: EngineOptions): Omit<AuditContext, 'app'> {
  const b = o.config.build;
  return { environment: environmentOf(o), commit: o.plan.head, buildNumber: b.buildNumber, repository: b.repoFullName, triggerer: b.triggerer };
}

export function context(o: EngineOptions, client: KubeClient, discovery: Discovery, prepared: Map<string, PreparedApp>, snapshot: LedgerSnapshot, signal: AbortSignal, hardSignal: AbortSignal, lockLost: AbortSignal): RunContext {
  const environment = environmentOf(o);
  return {
    client,
    discovery,
    config: o.config,
    logger: o.logger,
    signal,
    hardSignal,
    lockLost,
    // another repository's apps in this environment keep theirs too
    keeping: new Set([...o.plan.apps.map((c) => c.app.name).filter((name) => !prepared.has(name)), ...snapshot.foreign.keys()].map(labelValue)),
    environment,
    audit: auditOf(o),
    ledger: new LedgerWriter(client, o.config.ledgerNamespace, environment),
    previous: snapshot.entries,
    ...ownership(prepared, snapshot, () => otherLedgers(client, o.config.ledgerNamespace, environment, hardSignal)),
    pollMs: o.pollMs,
  };
}

/** Every request in flight listens on the run's signals: dozens at once is expected, not a leak. */
export function unbounded(signal: AbortSignal): AbortSignal {
  setMaxListeners(0, signal);
  return signal;
}

/** What deploy and diff share: a connection, discovery, and every app checked before anything else. */
export interface Session {
  client: KubeClient;
  discovery: Discovery;
  prepared: Map<string, PreparedApp>;
  /** Aborted `graceMs` after the run's signal: cuts in-flight requests. */
  hard: AbortSignal;
}

export async function withSession<T>(o: EngineOptions, changes: AppChange[], fn: (s: Session) => Promise<T>): Promise<T> {
  try {
    const client = new KubeClient(await connect(o.access, { context: o.config.identity.kubeContext }));
    const { hard, dispose } = afterGrace(o.signal, o.graceMs ?? CANCEL_GRACE_MS);
    try {
      const discovery = new Discovery(client, o.served);
      const prepared = await prepare({ changes, rendered: o.rendered, discovery, root: o.plan.root, audit: auditOf(o), signal: o.signal });
      return await fn({ client, discovery, prepared, hard });
    } finally {
      dispose();
      client.close();
    }
  } catch (err) {
    throw clusterError(err, o.access.server);
  }
}
