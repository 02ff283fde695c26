import { defineConfig } from 'vitest/config';

// Three suites: unit (pure logic), e2e (the pipe's real entrypoint, no cluster: plan mode,
// identity over real HTTP), cluster (the real test bed: kube-apiserver, etcd, kwok).
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 30_000 } },
      { test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 120_000 } },
      {
        test: {
          name: 'cluster',
          include: ['test/cluster/**/*.test.ts'],
          globalSetup: ['test/support/cluster-global-setup.ts'],
          // The first run on a machine builds the binaries inside globalSetup (see docs/testbed.md).
          testTimeout: 300_000,
          hookTimeout: 600_000,
          // One file at a time: the files share one cluster and two cores.
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
