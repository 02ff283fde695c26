import type { App, Root } from '../../src/root/model.js';
import { testApp } from '../support/app.js';

/** An App with the loader's defaults; tests override what they are about. */
export function app(name: string, over: Partial<App> = {}): App {
  return testApp(name, { directory: over.type && over.type !== 'directory' ? undefined : { recurse: true }, ...over });
}

export function root(apps: App[], over: Partial<Root> = {}): Root {
  return { format: 'native', file: 'app-of-apps.yaml', environments: [], apps, disabled: [], unsupported: [], ...over };
}

