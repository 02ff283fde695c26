import { afterEach } from 'vitest';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { RenderError } from '../../src/render/model.js';
import type { App } from '../../src/root/model.js';
import { toolPath } from '../../src/util/tools.js';
import { testApp } from '../support/app.js';

/** A real workspace and private temp dir per test, removed afterwards. */
const made: string[] = [];
afterEach(async () => {
  while (made.length) await rm(made.pop()!, { recursive: true, force: true });
});

/** A repository work tree with `files` and a private tmp dir beside it, removed after the test. */
export async function makeWorkspace(files: Record<string, string>): Promise<{ workspace: string; tmpDir: string }> {
  const base = await mkdtemp(join(tmpdir(), 'render-test-'));
  made.push(base);
  const workspace = join(base, 'repo');
  const tmpDir = join(base, 'tmp');
  await mkdir(tmpDir, { recursive: true });
  await writeFiles(workspace, files);
  return { workspace, tmpDir };
}

export async function writeFiles(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
}

export function app(over: Partial<App> & Pick<App, 'name' | 'path' | 'type'>): App {
  return testApp(over.name, { origin: { file: 'app-of-apps.yaml', line: 3 }, definitionDigest: 'test', ...over });
}

export const tools = { kubectlBin: toolPath('kubectl'), helmBin: toolPath('helm') };

/** The RenderError a render rejects with; fails the test if it succeeds or throws anything else. */
export async function rejection(p: Promise<unknown>): Promise<RenderError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof RenderError)) throw new Error(`expected a RenderError, got ${e === undefined ? 'a result' : String(e)}`);
  return e;
}
