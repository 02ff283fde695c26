import { cp, mkdir, readdir, readFile, realpath, stat, symlink, writeFile } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { isMap, isSeq, parseDocument } from 'yaml';
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
}): Promise<{ objects: Sourced[]; renderedCharts: boolean }> {
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
    let k = app.kustomize;
    if (k.ignoreMissingComponents && k.components?.length) {
      // as Argo CD: checked at render time, in the folder being rendered
      const present = await Promise.all(k.components.map((c) => stat(join(target, c)).then(() => true, () => false)));
      k = { ...k, components: k.components.filter((_, i) => present[i]) };
    }
    await writeFile(join(target, file), editKustomization(text, k, posixJoin(app.path, file), app.name));
  }
  let out: string;
  const helmRan = join(a.tmp, 'helm-ran');
  try {
    out = await a.kustomize.build(target, a.capabilities, a.signal, helmRan);
  } catch (e) {
    throw pullRefused(e, app, toRepo) ?? remoteFetchFailed(e, app, toRepo) ?? e;
  }
  const renderedCharts = await stat(helmRan).then(() => true, () => false);
  return { objects: parseManifests(out, app.path, { sourceComments: () => app.path }).objects, renderedCharts };
}

const hasOptions = (k: KustomizeOptions | undefined): k is KustomizeOptions =>
  Boolean(
    k &&
      (k.namePrefix ||
        k.nameSuffix ||
        k.namespace ||
        k.images?.length ||
        k.replicas?.length ||
        k.components?.length ||
        k.patches?.length ||
        (k.commonLabels && Object.keys(k.commonLabels).length) ||
        (k.commonAnnotations && Object.keys(k.commonAnnotations).length)),
  );

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
    // at once: one after the other, a folder of 2,000 apps took 200 ms per app with options (36 ms so)
    const siblings = (await readdir(from)).filter((entry) => entry !== part);
    await Promise.all(siblings.map((entry) => symlink(join(from, entry), join(to, entry))));
    from = join(from, part);
    to = join(to, part);
  }
  // links inside the folder stay as written, pointing where they point in the clone
  await cp(from, to, { recursive: true, verbatimSymlinks: true, filter: (src) => basename(src) !== '.git' });
  return to;
}

/**
 * The kustomization with the app's options written in, as Argo CD writes them: `kustomize edit set
 * nameprefix / namesuffix / image / replicas / namespace` replace (an image or replicas entry of the
 * same name; a `*` keeps the image entry's own value), `edit add label / annotation` set keys over
 * the file's own (or fail on one the file has, without --force), patches are appended to the
 * file's own, and `edit add component` appends the components the file does not list yet.
 */
export function editKustomization(text: string, k: KustomizeOptions, file: string, appName = ''): string {
  const doc = parseDocument(text);
  if (doc.errors.length || (doc.contents !== null && !isMap(doc.contents))) {
    throw new InputError(`${file} is not a kustomization: ${doc.errors[0]?.message.split('\n')[0] ?? 'not a YAML map'}`, {
      where: { file },
      hint: 'fix the kustomization file',
    });
  }
  const own = (doc.toJS() ?? {}) as Record<string, unknown>;
  if (k.namePrefix) doc.set('namePrefix', k.namePrefix);
  if (k.nameSuffix) doc.set('nameSuffix', k.nameSuffix);
  if (k.images?.length) {
    const images = new Map<string, Record<string, string>>();
    for (const im of Array.isArray(own.images) ? own.images : []) {
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
    doc.set('images', byName([...images.values()]));
  }
  if (k.replicas?.length) {
    const replicas = new Map(k.replicas.map((r) => [r.name, { name: r.name, count: r.count }]));
    for (const r of Array.isArray(own.replicas) ? own.replicas : []) {
      if (r && typeof r === 'object' && typeof r.name === 'string' && !replicas.has(r.name)) replicas.set(r.name, r);
    }
    doc.set('replicas', byName([...replicas.values()]));
  }
  for (const field of ['commonLabels', 'commonAnnotations'] as const) {
    const entries = Object.entries(k[field] ?? {}).map(([key, value]) => editAddArg(key, value, field, file, appName));
    const mine = own[field];
    const clash = k.clashFails?.includes(field) && mine && typeof mine === 'object' ? entries.filter(([key]) => key in mine) : [];
    if (clash.length) {
      const force = field === 'commonLabels' ? 'forceCommonLabels' : 'forceCommonAnnotations';
      throw new InputError(`Application ${appName}: spec.source.kustomize.${field} sets ${clash.map(([key]) => `"${key}"`).join(', ')}, which ${file} already sets in ${field}`, {
        where: { file },
        hint: `Argo CD fails on this too (kustomize edit add ${field === 'commonLabels' ? 'label' : 'annotation'}): set ${force}: true in the Application to replace the kustomization's value, or drop the key from one of them`,
      });
    }
    for (const [key, value] of entries) doc.setIn([field, key], value);
  }
  if (k.namespace) doc.set('namespace', k.namespace);
  if (k.patches?.length) {
    const patches = doc.get('patches', true);
    if (patches !== undefined && !isSeq(patches)) {
      throw new InputError(`${file}: patches is not a list, so the patches of Application ${appName} cannot be added to it`, { where: { file }, hint: 'write patches as a list' });
    }
    if (isSeq(patches)) for (const p of k.patches) patches.add(doc.createNode(p));
    else doc.set('patches', k.patches);
  }
  if (k.components?.length) {
    const listed = Array.isArray(own.components) ? own.components.map(String) : [];
    const added = k.components.filter((c, i) => c !== basename(file) && !listed.includes(c) && k.components!.indexOf(c) === i);
    const components = doc.get('components', true);
    if (isSeq(components)) for (const c of added) components.add(c);
    else if (added.length) doc.set('components', added);
  }
  return doc.toString();
}

const byName = <T extends { name?: unknown }>(list: T[]): T[] => list.sort((a, b) => (String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0));

/**
 * A key and value as `kustomize edit add label / annotation` reads Argo CD's "key:value" argument:
 * split at the first colon, a value in double quotes unquoted.
 */
function editAddArg(key: string, value: string, field: string, file: string, appName: string): [string, string] {
  const arg = `${key}:${value}`;
  const c = arg.indexOf(':');
  if (c === 0) {
    throw new InputError(`Application ${appName}: spec.source.kustomize.${field} has an empty key`, { where: { file }, hint: 'give every key a name' });
  }
  const v = arg.slice(c + 1);
  return [arg.slice(0, c), v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v];
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
