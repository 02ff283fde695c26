import type { Plan } from '../plan/model.js';
import type { RenderedApp, RenderError } from '../render/model.js';
import type { Logger } from './logger.js';
import { table } from './table.js';

/** The plan as data: printed by plan mode and written into the JSON report of every mode. */
export interface PlanReport {
  environment?: string;
  root: { file: string; format: string };
  head: string;
  base?: string;
  baseSource: string;
  apps: {
    name: string;
    type: string;
    path: string;
    /** Where the app is defined: the root manifest (or Application file) and line. */
    file: string;
    line?: number;
    namespace: string;
    status: string;
    deploy: boolean;
    reasons: string[];
    /** 1-based position of the app's layer in the deploy order; absent when not deployed. */
    layer?: number;
    dependsOn: string[];
    objects?: Record<string, number>;
    digest?: string;
    /** Why the app cannot be rendered (the run fails, nothing is applied). */
    error?: string;
    notes?: string[];
  }[];
  layers: string[][];
  disabled: string[];
  unsupported: { name: string; reason: string; source?: string; file: string; line?: number }[];
  removed: string[];
  notes: string[];
}

export function planReport(plan: Plan, rendered: Map<string, RenderedApp>, errors: RenderError[] = []): PlanReport {
  const errorOf = new Map(errors.map((e) => [e.app, e.located]));
  const layerOf = new Map<string, number>();
  plan.layers.forEach((layer, i) => layer.forEach((name) => layerOf.set(name, i + 1)));
  return {
    environment: plan.environment,
    root: { file: plan.root.file, format: plan.root.format },
    head: plan.head,
    base: plan.base,
    baseSource: plan.baseSource,
    apps: plan.apps.map(({ app, status, reasons }) => {
      const r = rendered.get(app.name);
      return {
        name: app.name,
        type: app.type,
        path: app.path,
        file: app.origin.file,
        line: app.origin.line,
        namespace: app.namespace,
        status,
        deploy: layerOf.has(app.name),
        reasons,
        layer: layerOf.get(app.name),
        dependsOn: app.dependsOn,
        objects: r ? countByKind(r) : undefined,
        digest: r?.digest,
        error: errorOf.get(app.name),
        notes: app.notes?.length ? app.notes : undefined,
      };
    }),
    layers: plan.layers,
    disabled: plan.root.disabled,
    unsupported: plan.root.unsupported.map((u) => ({ name: u.name, reason: u.reason, source: u.source, file: u.origin.file, line: u.origin.line })),
    removed: plan.removed,
    notes: [...(plan.root.notes ?? []), ...plan.notes],
  };
}

function countByKind(r: RenderedApp): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of r.objects) counts[o.kind] = (counts[o.kind] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

const short = (sha?: string) => (sha ? sha.slice(0, 12) : '-');

/** Human-readable plan: a header, one row per app in deploy order, then what is left out and why. */
export function printPlan(report: PlanReport, logger: Logger): void {
  const env = report.environment ? `environment ${report.environment}` : 'no environment';
  logger.info(`Plan for ${env}: root ${report.root.file} (${report.root.format})`);
  logger.info(`Deploying ${short(report.head)}, compared with ${short(report.base)} (${report.baseSource})`);
  const rows = [...report.apps].sort((a, b) => (a.layer ?? 1e9) - (b.layer ?? 1e9) || a.name.localeCompare(b.name));
  const lines = table(
    ['ORDER', 'APP', 'TYPE', 'STATUS', 'OBJECTS', 'WHY'],
    rows.map((a) => [
      a.layer ? String(a.layer) : '-',
      a.name,
      a.type,
      a.status,
      a.error ? 'render failed' : a.objects ? Object.entries(a.objects).map(([k, n]) => `${k} ${n}`).join(', ') || 'none' : '-',
      a.reasons.join('; ') || '-',
    ]),
  );
  for (const line of lines.split('\n')) logger.info(line);
  for (const d of report.disabled) logger.info(`disabled in this environment: ${d}`);
  for (const u of report.unsupported) {
    const source = u.source ? `, source ${u.source}` : '';
    logger.warn(`${u.name} cannot be rendered: ${u.reason} (${u.file}${u.line ? `:${u.line}` : ''}${source})`);
  }
  for (const a of report.apps) for (const n of a.notes ?? []) logger.info(`note: ${a.name}: ${n}`);
  for (const r of report.removed) {
    const why = report.disabled.includes(r) ? `is disabled${report.environment ? ` for ${report.environment}` : ''}` : 'was removed from the root manifest';
    logger.warn(`${r} ${why}; its objects stay until PRUNE_REMOVED_APPS=true`);
  }
  for (const n of report.notes) logger.info(`note: ${n}`);
  if (report.layers.length) logger.info(`Order: ${report.layers.map((l) => `[${l.join(', ')}]`).join(' -> ')}`);
}
