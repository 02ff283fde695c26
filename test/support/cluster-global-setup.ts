import { readFileSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { attachTestbed, infoOf, startTestbed, type Testbed, type TestbedInfo } from './testbed.js';

declare module 'vitest' {
  export interface ProvidedContext {
    testbed: TestbedInfo;
  }
}

/**
 * vitest globalSetup of the cluster project: one test bed for the whole run, torn down at the
 * end. With TESTBED_INFO=<run dir>/testbed.json (printed by `npm run testbed -- up`) the tests
 * use that already running bed instead and leave it running.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (process.env.TESTBED_INFO) {
    project.provide('testbed', JSON.parse(readFileSync(process.env.TESTBED_INFO, 'utf8')) as TestbedInfo);
    return undefined;
  }
  const bed = await startTestbed({ log: (line) => console.log(line) });
  project.provide('testbed', infoOf(bed));
  return () => bed.stop();
}

// This module is also the globalSetup, where vitest's test API must not be loaded: only test
// workers (which vitest marks with VITEST_WORKER_ID) import it.
const vitest = process.env.VITEST_WORKER_ID ? await import('vitest') : undefined;

/** In a cluster test file: the test bed of this run (server, CA, kubeconfigs, authenticator settings). */
export function useTestbed(): Testbed {
  if (!vitest) throw new Error('useTestbed() works in a vitest test file of the cluster project');
  return attachTestbed(vitest.inject('testbed'));
}
