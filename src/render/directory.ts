import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import pLimit from 'p-limit';
import picomatch from 'picomatch';
import type { App } from '../root/model.js';
import { InputError } from '../util/errors.js';
import { MAX_FILE_BYTES, type WorkTree } from '../util/tree.js';
import { parseManifests, type Sourced } from './parse.js';

const MANIFEST = /\.(ya?ml|json)$/;
/** Files read at once per app: enough to overlap I/O, few enough to stay far from the fd limit. */
const OPEN_FILES = 32;

/**
 * Argo CD's glob semantics (gobwas/glob without separators): `*` also matches "/", patterns
 * match the path relative to the app directory, `{a.yaml,b.yaml}` lists alternatives, dot
 * files are not special. picomatch's bash mode gives exactly that.
 */
function matcher(glob: string | undefined): ((rel: string) => boolean) | undefined {
  return glob ? picomatch(glob, { bash: true, dot: true }) : undefined;
}

/**
 * A directory app: its .yaml/.yml/.json files (recursively with `recurse`), filtered by the
 * include/exclude globs, parsed in process. A YAML file with no Kubernetes-looking document
 * is skipped with a warning, as Argo CD does; .jsonnet is refused with a reason.
 */
export async function renderDirectory(
  tree: WorkTree,
  app: Pick<App, 'path' | 'directory' | 'origin'>,
  signal?: AbortSignal,
): Promise<{ objects: Sourced[]; warnings: string[] }> {
  const { path: appPath, directory: options } = app;
  const root = await tree.resolve(appPath, app.origin);
  const s = await stat(root).catch(() => undefined);
  if (!s?.isDirectory()) {
    throw new InputError(`path ${appPath || '.'} is not a directory in the repository`, {
      where: app.origin,
      hint: "fix the app's path, or commit the directory",
    });
  }
  const include = matcher(options?.include);
  const exclude = matcher(options?.exclude);
  const files: string[] = [];
  const jsonnet: string[] = [];
  const linkedDirs = new Set<string>();
  const walk = async (abs: string, rel: string): Promise<void> => {
    const entries = await readdir(abs, { withFileTypes: true });
    for (const e of entries) {
      const childRel = rel ? `${rel}/${e.name}` : e.name;
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const target = await tree.resolve(posix.join(appPath, childRel));
        const real = await stat(target).catch(() => undefined);
        isFile = Boolean(real?.isFile());
        isDir = Boolean(real?.isDirectory());
        // a link back up the tree would make the walk endless
        if (isDir && options?.recurse) {
          const key = await realpath(target);
          isDir = !linkedDirs.has(key);
          linkedDirs.add(key);
        }
      }
      if (isDir) {
        if (options?.recurse && e.name !== '.git') await walk(join(abs, e.name), childRel);
        continue;
      }
      if (!isFile) continue;
      const isJsonnet = e.name.endsWith('.jsonnet');
      if (!isJsonnet && !MANIFEST.test(e.name)) continue;
      if (exclude?.(childRel) || (include && !include(childRel))) continue;
      (isJsonnet ? jsonnet : files).push(childRel);
    }
  };
  await walk(root, '');
  if (jsonnet.length) {
    throw new InputError(`jsonnet files cannot be rendered by the pipe: ${jsonnet.join(', ')}`, {
      where: { file: posix.join(appPath, jsonnet[0]!) },
      hint: 'render them to YAML and commit the result, or exclude them with directory.exclude',
    });
  }
  files.sort();
  const reads = pLimit(OPEN_FILES);
  const parsed = await Promise.all(
    files.map((rel) =>
      reads(async () => {
        signal?.throwIfAborted();
        const file = posix.join(appPath, rel);
        return { file, result: parseManifests(await readManifest(join(root, rel), file), file, { skipNonManifests: true }) };
      }),
    ),
  );
  const objects: Sourced[] = [];
  const warnings: string[] = [];
  for (const { file, result } of parsed) {
    if (result.skipped) {
      warnings.push(`${file} skipped: it has no Kubernetes objects (no apiVersion, kind or metadata)`);
      continue;
    }
    objects.push(...result.objects);
  }
  if (!files.length) {
    // an include that matches nothing, or a folder of other files, is rarely meant
    const filter = options?.include || options?.exclude ? ` its include/exclude (${[options.include && `include ${options.include}`, options.exclude && `exclude ${options.exclude}`].filter(Boolean).join(', ')}) leave` : ' it has';
    warnings.push(`${appPath || '.'} renders no objects:${filter} no .yaml, .yml or .json file${options?.recurse ? '' : ' directly in the folder (recurse is off)'}`);
  }
  return { objects, warnings };
}

async function readManifest(abs: string, file: string): Promise<string> {
  const s = await stat(abs);
  if (s.size > MAX_FILE_BYTES) {
    throw new InputError(`${file} is ${s.size} bytes, over the ${MAX_FILE_BYTES}-byte limit for a manifest`, {
      where: { file },
      hint: 'split the file, or keep data that large out of the manifests',
    });
  }
  return readFile(abs, 'utf8');
}
