import axios, { type AxiosProxyConfig } from 'axios';
import type { Config } from '../config/index.js';
import type { DeployResult, DiffResult } from '../apply/model.js';
import { environmentSlug } from '../apply/names.js';
import { errorMessage, PipeError } from '../util/errors.js';
import type { Logger } from './logger.js';
import { mask } from './mask.js';
import type { PlanReport } from './plan-report.js';

/**
 * Bitbucket Code Insights: the run as a report on the commit (shown on its pull requests and its
 * pipeline), with annotations on the lines of the root manifest (or another file) an error, a
 * failed app, an app that would change or a child that cannot be deployed comes from.
 *
 * Building the report is pure (`insightsReport`); `publishInsights` sends it through the
 * pipeline's local proxy, which authenticates the request, and never fails the run.
 */

/** What a run leaves for its reports: filled as the stages get there. */
export interface RunRecord {
  plan?: PlanReport;
  deploy?: DeployResult;
  diff?: DiffResult;
}

export interface RunOutcome extends RunRecord {
  mode: Config['mode'];
  environment?: string;
  exitCode: number;
  error?: unknown;
  durationMs: number;
  /** "https://bitbucket.org/acme/platform-apps/pipelines/results/42": the report's link. */
  pipelineUrl?: string;
}

export type Result = 'PASSED' | 'FAILED' | 'PENDING';

export interface InsightsReport {
  title: string;
  details: string;
  report_type: 'TEST';
  reporter: string;
  result: Result;
  link?: string;
  data: { title: string; type: 'TEXT' | 'NUMBER' | 'DURATION' | 'BOOLEAN'; value: string | number | boolean }[];
}

export interface Annotation {
  external_id: string;
  annotation_type: 'BUG' | 'CODE_SMELL';
  severity: 'HIGH' | 'MEDIUM' | 'LOW';
  result: 'FAILED' | 'PASSED' | 'SKIPPED';
  summary: string;
  details?: string;
  path?: string;
  line?: number;
}

/** Bitbucket's limits: a report's details, an annotation's summary and details, annotations per report and per request. */
const MAX_DETAILS = 2000;
const MAX_SUMMARY = 450;
const MAX_ANNOTATIONS = 1000;
const ANNOTATIONS_PER_REQUEST = 100;
/** Lines of an error's details in the report's details (the log has them all). */
const MAX_ERROR_DETAILS = 10;

/** At most `max` UTF-16 units, ending in "…" when clipped; never half of a character (a lone surrogate, which no UTF-8 text can hold). */
function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = /[\uD800-\uDBFF]/.test(text[max - 2] ?? '') ? max - 2 : max - 1;
  return `${text.slice(0, end)}…`;
}

/**
 * An annotation's details: a problem's own lines (a tool's message, often long), clipped so that
 * the "What to do" line after them always fits in Bitbucket's limit.
 */
function detailsWithHint(lines: string[], hint: string | undefined): string | undefined {
  const advice = hint ? `What to do: ${clip(hint, MAX_DETAILS / 2)}` : '';
  const body = clip(lines.join('\n'), MAX_DETAILS - advice.length - 1);
  return [body, advice].filter(Boolean).join('\n') || undefined;
}

/** Items joined with ", " up to about `budget` characters, then "and N more". */
function listed(items: string[], budget: number): string {
  let out = '';
  for (const [i, item] of items.entries()) {
    const next = out ? `${out}, ${item}` : item;
    if (next.length > budget && out) return `${out} and ${items.length - i} more`;
    out = next;
  }
  return out;
}
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** One report per mode and environment: a diff on a pull request and the deploy of its merge never replace each other. */
export function reportId(mode: Config['mode'], environment: string | undefined): string {
  // spelled as the ledger and the lock spell it: environments that differ only in case or punctuation keep apart
  return `app-of-apps-pipe-${mode}-${environmentSlug(environment)}`;
}

export function insightsReport(o: RunOutcome): { id: string; report: InsightsReport; annotations: Annotation[] } {
  const env = o.environment ?? 'default';
  const passed = o.exitCode === 0;
  const title = `App of Apps ${o.mode}: ${env}`;
  const data: InsightsReport['data'] = [{ title: 'Environment', type: 'TEXT', value: env }];
  const annotations: Annotation[] = [];
  const lines: string[] = [];

  const plan = o.plan;
  if (plan) {
    const toDeploy = plan.apps.filter((a) => a.deploy);
    data.push({ title: 'Apps in the root', type: 'NUMBER', value: plan.apps.length });
    if (o.mode === 'plan') data.push({ title: 'Apps to deploy', type: 'NUMBER', value: toDeploy.length });
    data.push({ title: 'Compared with', type: 'TEXT', value: plan.base ? `${plan.base.slice(0, 12)} (${plan.baseSource})` : plan.baseSource === 'ledger' ? 'the commits deployed (ledger)' : plan.baseSource === 'none' ? 'nothing (first commit)' : plan.baseSource });
    if (o.mode === 'plan') {
      lines.push(`${plural(toDeploy.length, 'app')} of ${plan.apps.length} would be deployed${toDeploy.length ? `: ${toDeploy.map((a) => a.name).join(', ')}` : ''}.`);
    }
    for (const u of plan.unsupported) {
      annotations.push({
        external_id: `unsupported-${u.name}`,
        annotation_type: 'CODE_SMELL',
        severity: 'MEDIUM',
        result: 'SKIPPED',
        summary: `${u.name} is not deployed: it cannot be rendered`,
        details: u.reason,
        path: u.file,
        line: u.line,
      });
    }
    if (plan.unsupported.length) lines.push(`${plural(plan.unsupported.length, 'child', 'children')} cannot be rendered and ${plan.unsupported.length === 1 ? 'is' : 'are'} not deployed: ${listed(plan.unsupported.map((u) => u.name), 600)}.`);
  }
  const where = new Map(plan?.apps.map((a) => [a.name, a]) ?? []);

  if (o.deploy) {
    const count = (outcome: string) => o.deploy!.apps.filter((a) => a.outcome === outcome).length;
    const failed = o.deploy.apps.filter((a) => a.outcome === 'failed');
    data.push({ title: 'Deployed', type: 'NUMBER', value: count('deployed') });
    data.push({ title: 'Failed', type: 'NUMBER', value: failed.length });
    data.push({ title: 'Unchanged', type: 'NUMBER', value: count('unchanged') });
    const parts = [`${count('deployed')} deployed`, `${failed.length} failed`, `${count('unchanged')} unchanged`, `${count('skipped')} skipped`].filter((p) => !p.startsWith('0 '));
    lines.push(`${o.deploy.cancelled ? 'Cancelled' : o.deploy.lockLost ? 'Stopped, the environment lock lost' : 'Deploy'}: ${parts.join(', ') || 'nothing to deploy'}.`);
    // which apps failed, first: the annotations say why, on each app's line
    if (failed.length) lines.push(`Failed: ${listed(failed.map((x) => x.app), 600)}.`);
    for (const a of failed) {
      const app = where.get(a.app);
      annotations.push({
        external_id: `failed-${a.app}`,
        annotation_type: 'BUG',
        severity: 'HIGH',
        result: 'FAILED',
        summary: `${a.app} failed: ${a.reason ?? 'see the pipeline log'}`,
        details: a.error?.hint ? `What to do: ${a.error.hint}` : undefined,
        path: app?.file,
        line: app?.line,
      });
    }
    for (const r of o.deploy.removed.filter((x) => x.outcome === 'failed')) {
      annotations.push({ external_id: `removed-${r.app}`, annotation_type: 'BUG', severity: 'HIGH', result: 'FAILED', summary: `${r.app} (removed): ${r.reason ?? 'pruning failed'}` });
    }
  }

  if (o.diff) {
    const changed = o.diff.apps.filter((a) => a.changed);
    const failed = o.diff.apps.filter((a) => a.error);
    const objects = changed.reduce((n, a) => n + a.objects.filter((x) => x.change !== 'none').length, 0);
    data.push({ title: 'Apps that would change', type: 'NUMBER', value: changed.length });
    data.push({ title: 'Objects that would change', type: 'NUMBER', value: objects });
    data.push({ title: 'Apps that could not be compared', type: 'NUMBER', value: failed.length });
    // first, so that clipping the details never drops them
    if (failed.length) lines.push(`${plural(failed.length, 'app')} could not be compared: ${listed(failed.map((a) => `${a.app} (${a.error!.message})`), 1200)}.`);
    if (changed.length) lines.push(`${plural(changed.length, 'app')} would change: ${listed(changed.map((a) => a.app), 600)}.`);
    else if (!failed.length) lines.push('No differences: the cluster matches this commit.');
    for (const a of o.diff.apps) {
      const app = where.get(a.app);
      if (a.error) {
        annotations.push({
          external_id: `diff-${a.app}`,
          annotation_type: 'BUG',
          severity: 'HIGH',
          result: 'FAILED',
          summary: `${a.app} could not be compared: ${a.error.message}`,
          details: detailsWithHint(a.error.details, a.error.hint),
          path: app?.file,
          line: app?.line,
        });
        continue;
      }
      if (!a.changed) continue;
      const changes = a.objects.filter((x) => x.change !== 'none');
      const by = (c: string) => changes.filter((x) => x.change === c).length;
      const counts = [`${by('create')} to create`, `${by('update')} to update`, `${by('delete')} to delete`].filter((p) => !p.startsWith('0 '));
      annotations.push({
        external_id: `diff-${a.app}`,
        annotation_type: 'CODE_SMELL',
        severity: 'LOW',
        result: 'PASSED',
        summary: `${a.app} would change: ${counts.join(', ')}`,
        details: changes.map((x) => `${x.change} ${x.id}${x.note ? ` (${x.note})` : ''}`).join('\n'),
        path: app?.file,
        line: app?.line,
      });
    }
  }

  if (o.error !== undefined) {
    for (const e of errorParts(o.error)) {
      const located = e instanceof PipeError ? e.located : errorMessage(e);
      lines.push(located);
      // what exactly is wrong is often in the details (each object refused, each problem found);
      // an error annotated on its file carries them in its annotation
      if (e instanceof PipeError && !e.where?.file) {
        const shown = e.details.slice(0, MAX_ERROR_DETAILS);
        lines.push(...shown.map((d) => `  ${d}`));
        if (e.details.length > shown.length) lines.push(`  and ${e.details.length - shown.length} more (see the pipeline log)`);
      }
      if (e instanceof PipeError && e.where?.file) {
        annotations.push({
          external_id: `error-${annotations.length}`,
          annotation_type: 'BUG',
          severity: 'HIGH',
          result: 'FAILED',
          summary: e.message,
          details: detailsWithHint(e.details, e.hint),
          path: e.where.file,
          line: e.where.line,
        });
      }
    }
    const hint = o.error instanceof PipeError ? o.error.hint : undefined;
    if (hint) lines.push(`What to do: ${hint}`);
  }
  if (!passed && o.error === undefined && !o.deploy && !o.diff) lines.push('The run failed: see the pipeline log.');
  data.push({ title: 'Duration', type: 'DURATION', value: o.durationMs });
  // Bitbucket keeps 1000 a report: the most severe first (a failure before a child skipped), stable otherwise
  const rank = { HIGH: 0, MEDIUM: 1, LOW: 2 } as const;
  const kept = annotations.map((a, i) => ({ a, i })).sort((x, y) => rank[x.a.severity] - rank[y.a.severity] || x.i - y.i).slice(0, MAX_ANNOTATIONS).map((x) => x.a);
  if (annotations.length > kept.length) lines.push(`${annotations.length} annotations: the ${kept.length} most severe are attached.`);

  const report: InsightsReport = {
    title,
    details: clip(mask(lines.join('\n') || (passed ? 'Passed.' : 'Failed.')), MAX_DETAILS),
    report_type: 'TEST',
    reporter: 'app-of-apps-pipe',
    result: passed ? 'PASSED' : 'FAILED',
    ...(o.pipelineUrl ? { link: o.pipelineUrl } : {}),
    data: data.slice(0, 10).map((d) => (typeof d.value === 'string' ? { ...d, value: mask(d.value) } : d)),
  };
  return {
    id: reportId(o.mode, o.environment),
    report,
    annotations: kept.map((a) => ({
      ...a,
      summary: clip(mask(a.summary), MAX_SUMMARY),
      ...(a.details ? { details: clip(mask(a.details), MAX_DETAILS) } : {}),
      ...(a.line && a.line > 0 ? {} : { line: undefined }),
    })),
  };
}

/** The single errors of a combined one (several apps that cannot be rendered, several bad variables). */
function errorParts(err: unknown): unknown[] {
  const parts = (err as { errors?: unknown }).errors;
  return Array.isArray(parts) && parts.length ? parts : [err];
}

export interface PublishTarget {
  /** "acme/platform-apps" */
  repository: string;
  /** The full SHA the report belongs to. */
  commit: string;
  /** The pipeline's local proxy, which adds the credentials: http://host.docker.internal:29418 in a pipe. */
  proxy: string;
}

/** Bitbucket's API through the proxy: plain http, which the proxy turns into an authenticated https call. */
const API = 'http://api.bitbucket.org/2.0';

/**
 * Replaces the report (deleted first, so a re-run leaves no annotations of the last) and adds its
 * annotations. Every failure is a warning: a report must never change a run's outcome.
 */
export async function publishInsights(target: PublishTarget, built: ReturnType<typeof insightsReport>, logger: Logger, timeoutMs = 20_000): Promise<boolean> {
  const [workspace, slug] = target.repository.split('/');
  const url = `${API}/repositories/${encodeURIComponent(workspace ?? '')}/${encodeURIComponent(slug ?? '')}/commit/${target.commit}/reports/${encodeURIComponent(built.id)}`;
  const proxy = proxyOf(target.proxy);
  const signal = AbortSignal.timeout(timeoutMs);
  const send = async (method: 'DELETE' | 'PUT' | 'POST', path: string, data?: unknown) => {
    const res = await axios.request({ method, url: url + path, data, proxy, signal, timeout: Math.min(10_000, timeoutMs), validateStatus: () => true, headers: { 'Content-Type': 'application/json' } });
    if (res.status >= 200 && res.status < 300) return;
    if (method === 'DELETE' && res.status === 404) return;
    const message = (res.data as { error?: { message?: string } } | undefined)?.error?.message;
    throw new Error(`${method} ${url}${path} answered HTTP ${res.status}${message ? `: ${message}` : ''}`);
  };
  let reported = false;
  let sent = 0;
  try {
    await send('DELETE', '');
    await send('PUT', '', built.report);
    reported = true;
    for (let i = 0; i < built.annotations.length; i += ANNOTATIONS_PER_REQUEST) {
      const batch = built.annotations.slice(i, i + ANNOTATIONS_PER_REQUEST);
      await send('POST', '/annotations', batch);
      sent += batch.length;
    }
    logger.info(`Code Insights report "${built.report.title}" published on ${target.commit.slice(0, 12)} (${plural(built.annotations.length, 'annotation')})`);
    return true;
  } catch (err) {
    const why = signal.aborted ? `no answer within ${timeoutMs / 1000}s` : errorMessage(err);
    // the report may be in without (all) its annotations: say which
    logger.warn(
      reported
        ? `the Code Insights report was published without ${sent ? 'all ' : ''}its annotations (${sent} of ${built.annotations.length} sent: ${why}, through the proxy ${target.proxy}); the run's result is unchanged`
        : `the Code Insights report was not published (${why}, through the proxy ${target.proxy}); the run's result is unchanged. Outside a Bitbucket pipeline, set CODE_INSIGHTS=false`,
    );
    return false;
  }
}

function proxyOf(url: string): AxiosProxyConfig {
  const u = new URL(url);
  return { protocol: u.protocol.replace(/:$/, ''), host: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)) };
}
