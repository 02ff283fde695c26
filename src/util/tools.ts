import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where kubectl and helm come from: KUBECTL_BIN / HELM_BIN if set, else the pinned copies in
 * .tools/bin of a checkout (installed by `npm ci`), else the PATH (the container image).
 */
export function toolPath(name: 'kubectl' | 'helm', env: NodeJS.ProcessEnv = process.env): string {
  const override = env[name === 'kubectl' ? 'KUBECTL_BIN' : 'HELM_BIN'];
  if (override) return override;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, '.tools', 'bin', name);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return name;
}
