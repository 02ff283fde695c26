import { accessSync, constants } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

export const binaryNames = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const;
export type BinaryName = (typeof binaryNames)[number];
export type Binaries = Record<BinaryName, string>;

export const buildScript = join(dirname(fileURLToPath(import.meta.url)), 'build.sh');

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The binaries in a KUBEBUILDER_ASSETS-style directory; names every one that is missing. */
export function binariesIn(dir: string, origin: string): Binaries {
  const bins = Object.fromEntries(binaryNames.map((name) => [name, join(dir, name)])) as Binaries;
  const missing = binaryNames.filter((name) => !executable(bins[name]));
  if (missing.length > 0) {
    throw new Error(
      `${origin} (${dir}) lacks executable ${missing.join(', ')}. ` +
        'Put all of etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok there, ' +
        'or unset TESTBED_ASSETS to build them with `npm run testbed -- build`.',
    );
  }
  return bins;
}

/**
 * TESTBED_ASSETS if set, else the cached build of test/testbed/go.mod (built on first use; the
 * first build takes tens of minutes on 2 cores, later calls return at once).
 */
export async function resolveBinaries(env: NodeJS.ProcessEnv = process.env, onBuildLog?: (line: string) => void): Promise<Binaries> {
  if (env.TESTBED_ASSETS) return binariesIn(env.TESTBED_ASSETS, 'TESTBED_ASSETS');
  const run = execa('bash', [buildScript], { env, stderr: onBuildLog ? 'pipe' : 'inherit', reject: false });
  if (onBuildLog) run.stderr?.on('data', (chunk: Buffer) => chunk.toString().split('\n').filter(Boolean).forEach(onBuildLog));
  const result = await run;
  if (result.exitCode !== 0) {
    throw new Error(`building the test bed's binaries failed (bash ${buildScript}, exit ${result.exitCode})${typeof result.stderr === 'string' && result.stderr ? `:\n${result.stderr.slice(-4000)}` : ''}`);
  }
  return binariesIn(String(result.stdout).trim(), 'the test bed build cache');
}
