import type { App } from '../../src/root/model.js';

/** An App as the root loader resolves one with its built-in defaults; tests override what they are about. */
export function testApp(name: string, over: Partial<App> = {}): App {
  return {
    name,
    path: `apps/${name}`,
    type: 'directory',
    namespace: 'default',
    createNamespace: true,
    prune: false,
    wait: true,
    timeoutSeconds: 300,
    serverSideApply: false,
    pruneLast: false,
    dependsOn: [],
    syncWave: 0,
    watch: [],
    origin: { file: 'app-of-apps.yaml', line: 1 },
    definitionDigest: `digest-of-${name}`,
    ...over,
  };
}
