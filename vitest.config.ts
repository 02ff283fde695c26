import { defineConfig } from 'vitest/config';

// Three suites: unit (pure logic), e2e (the pipe's real entrypoint, no cluster: plan mode,
// identity over real HTTP), cluster (the real test bed: kube-apiserver, etcd, kwok).
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 30_000 } },
      { test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 120_000 } },
    ],
  },
});
