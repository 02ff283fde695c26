import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
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
 * images, ...) go into a wrapping kustomization in the temp dir that has the app as its only
 * resource: the effect of Argo CD's `kustomize edit set ...`, without editing the clone.
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
  if (!found.some(Boolean)) {
    throw new InputError(`${app.path || '.'} has no kustomization.yaml`, { where: app.origin, hint: "point the app's path at a kustomization directory" });
  }
  const wrapper = wrapperKustomization(app.kustomize);
  let target = dir;
  if (wrapper) {
    target = join(a.tmp, 'kustomize');
    await mkdir(target, { recursive: true });
    wrapper.resources = [relative(target, dir).split(sep).join('/')];
    await writeFile(join(target, 'kustomization.yaml'), JSON.stringify(wrapper));
  }
  let out: string;
  try {
    out = await a.kustomize.build(target, a.capabilities, a.signal);
  } catch (e) {
    throw pullRefused(e, app, tree.root) ?? remoteFetchFailed(e, app, tree.root) ?? e;
  }
  return parseManifests(out, app.path, { sourceComments: () => app.path }).objects;
}

function wrapperKustomization(k: KustomizeOptions | undefined): Record<string, unknown> | undefined {
  if (!k) return undefined;
  const w: Record<string, unknown> = {};
  if (k.namePrefix) w.namePrefix = k.namePrefix;
  if (k.nameSuffix) w.nameSuffix = k.nameSuffix;
  if (k.images?.length) w.images = k.images.map(imageOverride);
  if (k.commonLabels && Object.keys(k.commonLabels).length) w.labels = [{ pairs: k.commonLabels, includeSelectors: true }];
  return Object.keys(w).length ? w : undefined;
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
function pullRefused(e: unknown, app: App, repoRoot: string): InputError | undefined {
  if (!(e instanceof ToolError) || !e.stderr.includes(PULL_REFUSED)) return undefined;
  const args = e.stderr.split(PULL_REFUSED)[1]?.split('\n')[0]?.trim() ?? '';
  const repo = /--repo (\S+)/.exec(args)?.[1];
  const chart = /--repo \S+ (\S+)/.exec(args)?.[1] ?? /pull (oci:\/\/\S+)/.exec(args)?.[1] ?? 'a chart';
  const version = /--version (\S+)/.exec(args)?.[1];
  const untarDir = /--untardir (\S+)/.exec(args)?.[1];
  const vendorDir = untarDir ? relative(repoRoot, untarDir).split(sep).join('/') : `${app.path}/charts`;
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
function remoteFetchFailed(e: unknown, app: App, repoRoot: string): InputError | undefined {
  if (!(e instanceof ToolError) || !FETCH_FAILED.test(e.stderr)) return undefined;
  const refs = [...e.stderr.matchAll(/accumulating \w+ from '([^']+)'/g)].filter((m) => isRemote(m[1]!));
  const failed = refs.at(-1);
  if (!failed) return undefined;
  const ref = failed[1]!;
  // the kustomization that lists it: the last folder kustomize recursed into before it, else the app's
  const dirs = [...e.stderr.slice(0, failed.index).matchAll(/recursed accumulation of path '([^']+)'/g)].map((m) => relative(repoRoot, m[1]!).split(sep).join('/'));
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
