import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../report/logger.js';
import { errorMessage, PipeError } from '../util/errors.js';
import { sleep } from '../util/retry.js';
import { LABEL, MANAGED_BY } from './audit.js';
import { KubeApiError, type KubeClient } from './client.js';

const Lease = z.object({
  metadata: z.object({ resourceVersion: z.string().optional() }).passthrough(),
  spec: z
    .object({
      holderIdentity: z.string().nullish(),
      leaseDurationSeconds: z.number().nullish(),
      acquireTime: z.string().nullish(),
      renewTime: z.string().nullish(),
      leaseTransitions: z.number().nullish(),
    })
    .default({}),
});
type Lease = z.output<typeof Lease>;

export interface LockOptions {
  namespace: string;
  name: string;
  /** Who holds it, shown to whoever waits: "build 42, commit abc1234, acme/apps". */
  holder: string;
  leaseDurationSeconds: number;
  /** How long to wait for another holder (LOCK_TIMEOUT). */
  timeoutSeconds: number;
  logger: Logger;
  signal?: AbortSignal;
  pollMs?: number;
}

/** Lease times are MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Free when nobody holds it, or the holder stopped renewing it for longer than its duration. */
/** How long after a lease's expiry another run may take it: a margin for clocks and a late renewal. */
const LEASE_MARGIN_MS = 2_000;
/** A renewal that got no answer is tried again this soon, while the lease is surely still held. */
const RENEW_RETRY_MS = 2_000;

export function leaseFree(spec: Lease['spec'], serverNowMs: number, marginMs = LEASE_MARGIN_MS): boolean {
  if (!spec.holderIdentity) return true;
  const renewed = Date.parse(spec.renewTime ?? spec.acquireTime ?? '');
  if (Number.isNaN(renewed)) return true;
  return renewed + (spec.leaseDurationSeconds ?? 0) * 1000 + marginMs < serverNowMs;
}

/**
 * How long ago the holder renewed the lease, and when it expires if nobody renews it: tells a
 * waiting run whether it waits for a live deploy or for the lease of a killed run to run out.
 */
export function leaseAge(spec: Lease['spec'], serverNowMs: number): string {
  const renewed = Date.parse(spec.renewTime ?? spec.acquireTime ?? '');
  if (Number.isNaN(renewed)) return '';
  const ago = Math.max(0, Math.round((serverNowMs - renewed) / 1000));
  const left = Math.max(0, Math.ceil((renewed + (spec.leaseDurationSeconds ?? 0) * 1000 - serverNowMs) / 1000));
  return `last renewed ${ago}s ago; if its run is gone, the lock expires in ${left}s`;
}

/**
 * An environment lock: a coordination.k8s.io/v1 Lease in the ledger namespace, held while
 * deploying and renewed at a third of its duration. Times are written and judged in the API
 * server's clock (its Date header), so runners with skewed clocks still agree on expiry; a run
 * that was killed leaves a lease that expires after leaseDurationSeconds.
 */
export class EnvironmentLock {
  private lease: Lease | undefined;
  private offsetMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;
  /** Set by release(): a renewal trying again stops. */
  private releasing = false;
  /** The server's time of the last write of our lease: once it is older than the lease, another run may hold it. */
  private renewedAt = 0;
  private readonly lostController = new AbortController();
  readonly identity: string;

  private constructor(
    private readonly client: KubeClient,
    private readonly o: LockOptions,
  ) {
    this.identity = `${o.holder} [${randomBytes(4).toString('hex')}]`;
  }

  /** Aborted when the lease was lost (taken over after we failed to renew it): stop deploying. */
  get lost(): AbortSignal {
    return this.lostController.signal;
  }

  static async acquire(client: KubeClient, o: LockOptions): Promise<EnvironmentLock> {
    const lock = new EnvironmentLock(client, o);
    await lock.take();
    lock.timer = setInterval(() => {
      // whatever a renewal throws is said, never left to end the process as an unhandled rejection
      lock.renewing ??= lock
        .renew()
        .catch((err: unknown) => o.logger.warn(`renewing the environment lock failed: ${errorMessage(err)}`))
        .finally(() => (lock.renewing = undefined));
    }, (o.leaseDurationSeconds * 1000) / 3);
    lock.timer.unref();
    return lock;
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.o.namespace}/leases/${this.o.name}`;
  }

  private serverNow(): number {
    return Date.now() + this.offsetMs;
  }

  private async read(timeoutMs?: number, signal: AbortSignal | undefined = this.o.signal): Promise<Lease | undefined> {
    try {
      const res = await this.client.request<unknown>('GET', this.path, { signal, timeoutMs });
      if (res.date) this.offsetMs = res.date.getTime() - Date.now();
      return Lease.parse(res.body);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw this.explain(err);
    }
  }

  private body(lease: Lease | undefined, fresh: boolean) {
    const now = microTime(this.serverNow());
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.o.name, namespace: this.o.namespace, labels: { [LABEL.managedBy]: MANAGED_BY }, resourceVersion: lease?.metadata.resourceVersion },
      spec: {
        holderIdentity: this.identity,
        leaseDurationSeconds: this.o.leaseDurationSeconds,
        acquireTime: fresh ? now : (lease?.spec.acquireTime ?? now),
        renewTime: now,
        leaseTransitions: (lease?.spec.leaseTransitions ?? 0) + (fresh && lease ? 1 : 0),
      },
    };
  }

  private async take(): Promise<void> {
    const deadline = Date.now() + this.o.timeoutSeconds * 1000;
    let announced = '';
    for (;;) {
      if (this.o.signal?.aborted) throw new PipeError('cancelled while waiting for the environment lock');
      const current = await this.read();
      try {
        if (!current) {
          await ensureNamespace(this.client, this.o.namespace, this.o.signal);
          const res = await this.client.request<unknown>('POST', this.path.replace(/\/[^/]+$/, ''), { body: this.body(undefined, true), signal: this.o.signal });
          this.lease = Lease.parse(res.body);
          this.renewedAt = this.serverNow();
          return;
        }
        if (leaseFree(current.spec, this.serverNow())) {
          if (current.spec.holderIdentity) this.o.logger.warn(`taking over the expired environment lock of ${current.spec.holderIdentity}`);
          const res = await this.client.request<unknown>('PUT', this.path, { body: this.body(current, true), signal: this.o.signal });
          this.lease = Lease.parse(res.body);
          this.renewedAt = this.serverNow();
          return;
        }
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 409) continue; // another run moved first: look again
        throw this.explain(err);
      }
      const holder = current.spec.holderIdentity!;
      const age = leaseAge(current.spec, this.serverNow());
      if (Date.now() >= deadline) {
        throw new PipeError(`environment lock ${this.o.namespace}/${this.o.name} is held by ${holder} (since ${current.spec.acquireTime ?? '?'}${age ? `; ${age}` : ''}); waited ${this.o.timeoutSeconds}s`, {
          hint: 'another pipeline is deploying to this environment: wait for it to finish, or raise LOCK_TIMEOUT; a lock left by a killed run expires on its own',
        });
      }
      if (announced !== holder) {
        this.o.logger.info(`waiting for the environment lock held by ${holder} (${age ? `${age}; ` : ''}waiting up to ${this.o.timeoutSeconds}s)`);
        announced = holder;
      }
      await sleep(Math.min(this.o.pollMs ?? 2_000, Math.max(0, deadline - Date.now())));
    }
  }

  private async renew(): Promise<void> {
    const leaseMs = this.o.leaseDurationSeconds * 1000;
    const interval = leaseMs / 3;
    while (this.lease && !this.lost.aborted && !this.releasing) {
      // what the lease's renewTime says is when the request went out, not when its answer came
      const sentAt = this.serverNow();
      // the lease is surely ours until it expires (another run may take it 2 s later): each try
      // (its retries, the read after it) ends by then
      const left = (until: number) => AbortSignal.timeout(Math.max(1, Math.floor(Math.min(interval, this.renewedAt + leaseMs - until))));
      try {
        const res = await this.client.request<unknown>('PUT', this.path, { body: this.body(this.lease, false), timeoutMs: interval, signal: left(sentAt) });
        if (res.date) this.offsetMs = res.date.getTime() - Date.now();
        this.lease = Lease.parse(res.body);
        this.renewedAt = sentAt;
        return;
      } catch (err) {
        if (!this.lease) return; // released meanwhile
        const current = await this.read(interval, left(this.serverNow())).catch(() => undefined);
        if (current?.spec.holderIdentity === this.identity) {
          this.lease = current; // a conflicting write of our own lease: try again
          continue;
        }
        if (current || (err instanceof KubeApiError && err.status === 404)) {
          const hint = 'another run deployed to this environment meanwhile (or the lease was deleted): check what it deployed, then run this pipeline again';
          this.o.logger.error(`lost the environment lock ${this.o.namespace}/${this.o.name}${current ? ` to ${current.spec.holderIdentity}` : ''}: no further app is started`);
          this.o.logger.info(`  What to do: ${hint}`);
          this.lostController.abort(new PipeError('the environment lock was lost', { hint }));
          return;
        }
        // no answer (the API server unreachable from here, the identity refused): tried again every
        // few seconds while the lease is surely ours; once the next try could come after it expired
        // (another run may take it 2 s later), this one stops as if it had lost it, before anyone can
        const silentMs = this.serverNow() - this.renewedAt;
        const again = Math.min(RENEW_RETRY_MS, interval);
        if (silentMs + again >= leaseMs) {
          const hint = 'check that the API server is reachable from the runner and that the deploy identity may update leases in the ledger namespace; then check what was deployed, and run this pipeline again';
          this.o.logger.error(`could not renew the environment lock ${this.o.namespace}/${this.o.name} for ${Math.round(silentMs / 1000)}s (${errorMessage(err)}): another run may take it now; no further app is started`);
          this.o.logger.info(`  What to do: ${hint}`);
          this.lostController.abort(new PipeError('the environment lock was lost', { hint }));
          return;
        }
        this.o.logger.debug(`could not renew the environment lock (${errorMessage(err)}); trying again`);
        await sleep(again);
      }
    }
  }

  /** Deletes the lease if it is still ours (a precondition on its resourceVersion makes sure). */
  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.releasing = true;
    await this.renewing;
    const lease = this.lease;
    this.lease = undefined;
    if (!lease || this.lost.aborted) return;
    try {
      await this.client.request('DELETE', this.path, {
        body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { resourceVersion: lease.metadata.resourceVersion } },
        timeoutMs: 10_000,
      });
    } catch (err) {
      this.o.logger.warn(`could not release the environment lock (it expires in ${this.o.leaseDurationSeconds}s): ${(err as Error).message}`);
    }
  }

  private explain(err: unknown): Error {
    if (err instanceof KubeApiError && err.status === 403) {
      return new PipeError(`cannot take the environment lock (Lease ${this.o.namespace}/${this.o.name}): ${err.body.message ?? 'forbidden'}`, {
        hint: `let the deploy identity get, create, update and delete leases in namespace ${this.o.namespace} (LEDGER_NAMESPACE)`,
        cause: err,
      });
    }
    if (err instanceof KubeApiError && err.status === 404) {
      return new PipeError(`the ledger namespace ${this.o.namespace} does not exist`, {
        hint: `create it (kubectl create namespace ${this.o.namespace}) or let the deploy identity create namespaces`,
        cause: err,
      });
    }
    return err as Error;
  }
}

/** The pipe's own namespace (ledger and lock) is created on first use when the identity may. */
export async function ensureNamespace(client: KubeClient, name: string, signal?: AbortSignal): Promise<void> {
  try {
    if (await client.get(`/api/v1/namespaces/${name}`, { signal })) return;
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 403) return; // may not read namespaces: the lease write will tell
    throw err;
  }
  try {
    await client.request('POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { [LABEL.managedBy]: MANAGED_BY } } },
      signal,
    });
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 409) return;
    if (err instanceof KubeApiError && err.status === 403) {
      throw new PipeError(`the pipe's namespace ${name} does not exist and the deploy identity may not create it`, {
        hint: `create it once (kubectl create namespace ${name}), or set LEDGER_NAMESPACE to a namespace the identity can write configmaps and leases in`,
        cause: err,
      });
    }
    throw err;
  }
}
