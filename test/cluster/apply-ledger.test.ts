// The deploy ledger under concurrent writers: read-modify-write on resourceVersion loses nothing.
import { describe, expect, it } from 'vitest';
import { KubeClient } from '../../src/apply/client.js';
import { connect } from '../../src/apply/connection.js';
import { LedgerWriter, readLedger, type LedgerEntry } from '../../src/apply/ledger.js';
import { useTestbed } from '../support/cluster-global-setup.js';
import { accessFor, uid } from './helpers/engine.js';

const bed = useTestbed();

const entry = (app: string, commit: string): LedgerEntry => ({ app, commit, deployedAt: new Date().toISOString(), objects: [`v1 ConfigMap ns/${app}`] });

describe('ledger', () => {
  it('two writers (two runs, two connections) recording at once keep every entry', async () => {
    const env = `ledger-${uid()}`;
    const clients = await Promise.all([0, 1].map(async () => new KubeClient(await connect(accessFor(bed.adminKubeconfig)))));
    try {
      const [a, b] = clients.map((c) => new LedgerWriter(c, 'app-of-apps-pipe', env)) as [LedgerWriter, LedgerWriter];
      await Promise.all([
        ...Array.from({ length: 15 }, (_, i) => a.record(entry(`a-${i}`, 'a'.repeat(40)))),
        ...Array.from({ length: 15 }, (_, i) => b.record(entry(`b-${i}`, 'b'.repeat(40)))),
      ]);
      // Apps finishing together share a write.
      expect(a.writes + b.writes).toBeLessThan(30);
      const snapshot = await readLedger(clients[0]!, 'app-of-apps-pipe', env, undefined);
      expect(snapshot.problems).toEqual([]);
      expect(snapshot.entries.size).toBe(30);
      expect(snapshot.entries.get('b-14')?.commit).toBe('b'.repeat(40));

      await Promise.all([a.remove('a-0'), b.record(entry('a-1', 'c'.repeat(40)))]);
      const after = await readLedger(clients[1]!, 'app-of-apps-pipe', env, undefined);
      expect(after.entries.has('a-0')).toBe(false);
      expect(after.entries.get('a-1')?.commit).toBe('c'.repeat(40));
      expect(after.entries.size).toBe(29);
    } finally {
      clients.forEach((c) => c.close());
    }
  });
});
