import { cp, mkdir, readdir, readFile, realpath, stat, symlink, writeFile } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { isMap, parseDocument } from 'yaml';
import type { App, KustomizeOptions } from '../root/model.js';
import type { ClusterCapabilities } from './model.js';
import { InputError } from '../util/errors.js';
import { ToolError } from '../util/exec.js';
import type { WorkTree } from '../util/tree.js';
import { parseManifests, type Sourced } from './parse.js';
import { PULL_REFUSED, type Kustomize } from './tools.js';
import { isRemote, KUSTOMIZATION_FILES } from '../util/source-files.js';
import { mask } from '../report/mask.js';


/**
 * A kustomize app: `kubectl kustomize` of the app's path. The app's own options (namePrefix,
 * images, ...) are edited into a copy of its kustomization, as Argo CD's `kustomize edit set ...`
 * edits its checkout: they replace the kustomization's own values, and the clone is never written.
 */
export async function renderKustomize(a: {
  app: App;
  tree: WorkTree;
  kustomize: Kustomize;
  tmp: string;
  capabilities?: ClusterCapabilities;
  signal?: AbortSignal;
}): Promise<Sourced[]> {
  const { app, tree } = a;
  const dir = await tree.resolve(app.path);
  const found = await Promise.all(KUSTOMIZATION_FILES.map((f) => stat(join(dir, f)).then((s) => s.isFile(), () => false)));
  const file = KUSTOMIZATION_FILES.find((_, i) => found[i]);
  if (!file) {
    throw new InputError(`${app.path || '.'} has no kustomization.yaml`, { where: app.origin, hint: "point the app's path at a kustomization directory" });
  }
  let target = dir;
  const mirror = join(a.tmp, 'kustomize');
  // kustomize names folders of the mirror in its messages: say them as the clone's
  const toRepo = (abs: string) => relative(abs.startsWith(mirror + sep) || abs === mirror ? mirror : tree.root, abs).split(sep).join('/');
  if (hasOptions(app.kustomize)) {
    target = await mirrorOf(tree.root, dir, mirror);
    const text = await readFile(join(target, file), 'utf8');
    await writeFile(join(target, file), editKustomization(text, app.kustomize, posixJoin(app.path, file)));
  }
  let out: string;
  try {
    out = await a.kustomize.build(target, a.capabilities, a.signal);
  } catch (e) {
    throw pullRefused(e, app, toRepo) ?? remoteFetchFailed(e, app, toRepo) ?? e;
  }
  return parseManifests(out, app.path, { sourceComments: () => app.path }).objects;
}

const hasOptions = (k: KustomizeOptions | undefined): k is KustomizeOptions =>
  Boolean(k && (k.namePrefix || k.nameSuffix || k.images?.length || (k.commonLabels && Object.keys(k.commonLabels).length)));

const posixJoin = (dir: string, file: string) => (dir ? `${dir}/${file}` : file);

/**
 * A copy of the app's folder at the same place in a mirror of the repository whose other entries
 * are links to the clone's, so relative references (`../base`) resolve as they do in the clone
 * while kustomize's load restrictions still see the app's files inside the app's folder.
 */
async function mirrorOf(repoRoot: string, dir: string, mirror: string): Promise<string> {
  let from = await realpath(repoRoot);
  const rel = relative(from, await realpath(dir));
  let to = mirror;
  for (const part of rel ? rel.split(sep) : []) {
    await mkdir(to, { recursive: true });
    for (const entry of await readdir(from)) if (entry !== part) await symlink(join(from, entry), join(to, entry));
    from = join(from, part);
    to = join(to, part);
  }
  // links inside the folder stay as written, pointing where they point in the clone
  await cp(from, to, { recursive: true, verbatimSymlinks: true, filter: (src) => basename(src) !== '.git' });
  return to;
}

/**
 * The kustomization with the app's options written in, as `kustomize edit set nameprefix /
 * namesuffix / image` and `edit add label --force` write them: scalars replaced, an image entry
 * of the same name replaced (a `*` keeps the entry's own value), labels set over the file's own.
 */
export function editKustomization(text: string, k: KustomizeOptions, file: string): string {
  const doc = parseDocument(text);
  if (doc.errors.length || (doc.contents !== null && !isMap(doc.contents))) {
    throw new InputError(`${file} is not a kustomization: ${doc.errors[0]?.message.split('\n')[0] ?? 'not a YAML map'}`, {
      where: { file },
      hint: 'fix the kustomization file',
    });
  }
  if (k.namePrefix) doc.set('namePrefix', k.namePrefix);
  if (k.nameSuffix) doc.set('nameSuffix', k.nameSuffix);
  if (k.images?.length) {
    const own = (doc.toJS() as { images?: unknown } | null)?.images;
    const images = new Map<string, Record<string, string>>();
    for (const im of Array.isArray(own) ? own : []) {
      if (im && typeof im === 'object' && typeof im.name === 'string') images.set(im.name, im as Record<string, string>);
    }
    for (const spec of k.images) {
      const set = imageOverride(spec);
      const name = set.name!;
      const before = images.get(name) ?? {};
      const merged: Record<string, string> = { name };
      for (const key of ['newName', 'newTag', 'digest'] as const) {
        const v = set[key] === '*' ? before[key] : set[key];
        if (v !== undefined && v !== '*') merged[key] = v;
      }
      images.set(name, merged);
    }
    doc.set('images', [...images.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, im]) => im));
  }
  for (const [key, value] of Object.entries(k.commonLabels ?? {})) doc.setIn(['commonLabels', key], value);
  return doc.toString();
}

/** Argo CD / `kustomize edit set image` syntax: [name=]newName[:tag][@digest]. */
export function imageOverride(spec: string): Record<string, string> {
  const eq = spec.indexOf('=');
  let image = eq >= 0 ? spec.slice(eq + 1) : spec;
  let digest: string | undefined;
  let tag: string | undefined;
  const at = image.indexOf('@');
  if (at >= 0) [image, digest] = [image.slice(0, at), image.slice(at + 1)];
  const colon = image.lastIndexOf(':');
  if (colon > image.lastIndexOf('/')) [image, tag] = [image.slice(0, colon), image.slice(colon + 1)];
  const name = eq >= 0 ? spec.slice(0, eq) : image;
  return {
    name,
    ...(image !== name ? { newName: image } : {}),
    ...(tag ? { newTag: tag } : {}),
    ...(digest ? { digest } : {}),
  };
}

/** kustomize wanted to download a helmCharts chart: say which one and how to vendor it. */
function pullRefused(e: unknown, app: App, toRepo: (abs: string) => string): InputError | undefined {
  if (!(e instanceof ToolError) || !e.stderr.includes(PULL_REFUSED)) return undefined;
  const args = e.stderr.split(PULL_REFUSED)[1]?.split('\n')[0]?.trim() ?? '';
  const repo = /--repo (\S+)/.exec(args)?.[1];
  const chart = /--repo \S+ (\S+)/.exec(args)?.[1] ?? /pull (oci:\/\/\S+)/.exec(args)?.[1] ?? 'a chart';
  const version = /--version (\S+)/.exec(args)?.[1];
  const untarDir = /--untardir (\S+)/.exec(args)?.[1];
  const vendorDir = untarDir ? toRepo(untarDir) : `${app.path}/charts`;
  const pull = ['helm pull', repo ? `--repo ${repo}` : '', chart, version ? `--version ${version}` : '', `--untar --untardir ${vendorDir}`];
  return new InputError(`kustomize helmCharts needs network dependency ${chart}${version ? ` ${version}` : ''}${repo ? ` from repo ${repo}` : ''}`, {
    where: app.origin,
    hint: `vendor it with \`${pull.filter(Boolean).join(' ')}\` and commit ${vendorDir}/ (the pipe renders without network)`,
  });
}

/** kustomize's words for a fetch that never reached the remote (DNS, no route, refused, git failed). */
const FETCH_FAILED = /failed to run '[^']*\bgit |Could not resolve host|no such host|dial tcp|unable to access|Could not read from remote repository|network is unreachable|connection (refused|timed out)|i\/o timeout/i;

/**
 * kustomize could not fetch a remote resource (`https://github.com/org/repo//path?ref=v1`,
 * `github.com/org/repo/path?ref=v1`, `git@github.com:org/repo.git//path`): say which, from which
 * kustomization, and that it needs the network, instead of blaming the kustomization.
 */
function remoteFetchFailed(e: unknown, app: App, toRepo: (abs: string) => string): InputError | undefined {
  if (!(e instanceof ToolError) || !FETCH_FAILED.test(e.stderr)) return undefined;
  const refs = [...e.stderr.matchAll(/accumulating \w+ from '([^']+)'/g)].filter((m) => isRemote(m[1]!));
  const failed = refs.at(-1);
  if (!failed) return undefined;
  const ref = failed[1]!;
  // the kustomization that lists it: the last folder kustomize recursed into before it, else the app's
  const dirs = [...e.stderr.slice(0, failed.index).matchAll(/recursed accumulation of path '([^']+)'/g)].map((m) => toRepo(m[1]!));
  const inRepo = dirs.filter((d) => d !== '..' && !d.startsWith('../')).at(-1);
  const dir = inRepo === undefined ? app.path || '.' : inRepo || '.';
  return new InputError(`the kustomization in ${dir} uses the remote resource ${ref}, which needs network access, and kustomize could not fetch it`, {
    where: { file: dir },
    details: fetchDetails(mask(e.stderr)),
    hint:
      `vendor it: copy the files of ${ref} into the repository and list their path in resources instead of the URL ` +
      '(or give the runner network access to it); the pipe never watches remote content for changes, so a new commit at the remote deploys nothing until this repository changes',
  });
}

/** The git command kustomize ran and what it answered (the reason is at the end of a long first line). */
function fetchDetails(stderr: string): string[] {
  const run = /failed to run '([^']+)': ([\s\S]*)/.exec(stderr);
  if (!run) return stderr.trim().split('\n').slice(-5);
  const answer = run[2]!.split('\n').map((l) => l.trim()).filter((l) => l && !/^:? ?exit status \d+$/.test(l));
  return [`kustomize ran: ${run[1]}`, ...answer].slice(0, 6);
}
