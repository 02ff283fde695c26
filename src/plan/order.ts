import type { App, Root } from '../root/model.js';
import { formatLocation, InputError, InputErrors } from '../util/errors.js';
import { distance } from '../util/spelling.js';

export interface DependencyGraph {
  /** Every app, each after its dependencies: by effective wave, then depth, then name. */
  order: string[];
  /**
   * Deploy layers of the apps in `deploy`: every app comes after the deployed apps it depends on
   * (directly, or through apps that are not deployed) and after every deployed app of a lower wave.
   */
  layers(deploy: ReadonlySet<string>): string[][];
  /** The wave an app is deployed in: its own sync wave, or a dependency's higher one. */
  wave(app: string): number;
  notes: string[];
}

/**
 * The apps' order from dependsOn and sync waves. dependsOn is a hard constraint; the wave orders
 * apps within it: an app's effective wave is the highest of its own and its dependencies', so a
 * dependency never waits for a later wave. Unknown dependencies and cycles are input errors at
 * the app's manifest line.
 */
export function dependencyGraph(root: Pick<Root, 'apps' | 'disabled' | 'unsupported' | 'environment'>): DependencyGraph {
  const apps = new Map(root.apps.map((a) => [a.name, a]));
  const notes: string[] = [];
  const errors: InputError[] = [];
  const deps = new Map<string, string[]>();
  for (const app of root.apps) {
    const mine: string[] = [];
    for (const d of new Set(app.dependsOn)) {
      if (apps.has(d)) mine.push(d);
      else if (root.disabled.includes(d)) notes.push(`${app.name} depends on ${d}, which is disabled${root.environment ? ` for ${root.environment.name}` : ''}: not waited for`);
      else if (root.unsupported.some((u) => u.name === d)) notes.push(`${app.name} depends on ${d}, which the pipe cannot render: not waited for`);
      else errors.push(unknownDependency(app, d, [...apps.keys()]));
    }
    deps.set(app.name, mine);
  }
  if (errors.length) throw errors.length === 1 ? errors[0]! : new InputErrors(errors);

  const topo = topologicalOrder(root.apps, deps);
  const wave = new Map<string, number>();
  const depth = new Map<string, number>();
  for (const name of topo) {
    const app = apps.get(name)!;
    let w = app.syncWave;
    for (const d of deps.get(name)!) {
      if (wave.get(d)! > w) {
        notes.push(`${name} (wave ${app.syncWave}) depends on ${d} (wave ${wave.get(d)}): deployed in wave ${wave.get(d)}`);
        w = wave.get(d)!;
      }
    }
    wave.set(name, w);
    depth.set(name, Math.max(0, ...deps.get(name)!.filter((d) => wave.get(d) === w).map((d) => depth.get(d)! + 1)));
  }
  const order = [...topo].sort((a, b) => wave.get(a)! - wave.get(b)! || depth.get(a)! - depth.get(b)! || (a < b ? -1 : a > b ? 1 : 0));

  const layers = (deploy: ReadonlySet<string>): string[][] => {
    // need: the first layer (inside the app's wave) an app may take, carried through apps not deployed
    const need = new Map<string, number>();
    const layer = new Map<string, number>();
    const byWave = new Map<number, string[][]>();
    for (const name of order) {
      const w = wave.get(name)!;
      const n = Math.max(0, ...deps.get(name)!.filter((d) => wave.get(d) === w).map((d) => (deploy.has(d) ? layer.get(d)! + 1 : need.get(d)!)));
      need.set(name, n);
      if (!deploy.has(name)) continue;
      layer.set(name, n);
      const rows = byWave.get(w) ?? [];
      byWave.set(w, rows);
      (rows[n] ??= []).push(name);
    }
    return [...byWave.keys()]
      .sort((a, b) => a - b)
      .flatMap((w) => byWave.get(w)!.filter((row) => row?.length))
      .map((row) => row.sort());
  };
  return { order, layers, wave: (name) => wave.get(name)!, notes };
}

/** Kahn's algorithm; a cycle left over is an input error naming it. */
function topologicalOrder(apps: readonly App[], deps: Map<string, string[]>): string[] {
  const waiting = new Map(apps.map((a) => [a.name, deps.get(a.name)!.length]));
  const dependents = new Map<string, string[]>();
  for (const [name, ds] of deps) {
    for (const d of ds) {
      const list = dependents.get(d);
      if (list) list.push(name);
      else dependents.set(d, [name]);
    }
  }
  const ready = apps.filter((a) => waiting.get(a.name) === 0).map((a) => a.name);
  const out: string[] = [];
  while (ready.length) {
    const name = ready.pop()!;
    out.push(name);
    for (const x of dependents.get(name) ?? []) {
      const left = waiting.get(x)! - 1;
      waiting.set(x, left);
      if (left === 0) ready.push(x);
    }
  }
  if (out.length < apps.length) throw cycleError(apps, deps, new Set([...waiting].filter(([, n]) => n > 0).map(([name]) => name)));
  return out;
}

function cycleError(apps: readonly App[], deps: Map<string, string[]>, stuck: Set<string>): InputError {
  // every app left over waits for another left over: walking those edges must come back round
  const path: string[] = [];
  let at = apps.find((a) => stuck.has(a.name))!.name;
  while (!path.includes(at)) {
    path.push(at);
    at = deps.get(at)!.find((d) => stuck.has(d))!;
  }
  const cycle = [...path.slice(path.indexOf(at)), at];
  const byName = new Map(apps.map((a) => [a.name, a]));
  const first = byName.get(cycle[0]!)!;
  return new InputError(`dependency cycle: ${cycle.join(' -> ')}`, {
    where: first.origin,
    details: cycle.slice(0, -1).map((n) => `${formatLocation(byName.get(n)!.origin)}${n} depends on ${cycle[cycle.indexOf(n) + 1]}`),
    hint: 'remove one of these dependsOn entries so the apps can be deployed one after the other',
  });
}

function unknownDependency(app: App, dep: string, known: string[]): InputError {
  const close = known.filter((k) => distance(k.toLowerCase(), dep.toLowerCase()) <= Math.max(1, Math.floor(dep.length / 4)));
  return new InputError(`${app.name} depends on "${dep}", which is not an app of the root manifest`, {
    where: app.origin,
    hint: close.length ? `did you mean ${close.map((c) => `"${c}"`).join(' or ')}?` : 'dependsOn lists names of other apps in the root manifest',
  });
}
