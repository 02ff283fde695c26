import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Config } from '../config/index.js';
import type { PlanReport } from './plan-report.js';
import { mask } from './mask.js';
import { PipeError } from '../util/errors.js';

export interface RunReport {
  mode: Config['mode'];
  plan: PlanReport;
  /** The apply engine's per-app results (deploy, diff). */
  result?: unknown;
  /** Why the run stopped before it had per-app results (the environment lock held, the cluster unreachable). */
  error?: { message: string; details: string[]; hint?: string };
  durationMs: number;
}

/** The report's `error`: the message (with the variable or file it is about), details and what to do. */
export function reportError(err: unknown): NonNullable<RunReport['error']> {
  if (err instanceof PipeError) return { message: err.located, details: err.details, ...(err.hint ? { hint: err.hint } : {}) };
  return { message: String((err as Error)?.message ?? err), details: [] };
}

/** Writes the JSON report atomically (a reader never sees half a file); masked like the log. */
export async function writeReport(config: Config, report: RunReport): Promise<void> {
  const body = {
    schemaVersion: 1,
    tool: 'app-of-apps-pipe',
    generatedAt: new Date().toISOString(),
    build: {
      commit: config.build.commit,
      buildNumber: config.build.buildNumber,
      repository: config.build.repoFullName,
      triggerer: config.build.triggerer,
      pipeline: config.build.pipelineUuid,
    },
    ...report,
  };
  const tmp = `${config.reportFile}.${process.pid}.tmp`;
  try {
    await mkdir(dirname(config.reportFile), { recursive: true });
    // each string masked on its own: the report stays JSON whatever a secret looks like
    await writeFile(tmp, JSON.stringify(body, (_key, value: unknown) => (typeof value === 'string' ? mask(value) : maskKeys(value)), 2) + '\n', { mode: 0o644 });
    await rename(tmp, config.reportFile);
  } catch (err) {
    // checked before the run (checkReportFile); this is the file system failing later. Not bad
    // input: a deploy may have happened, which the log above says.
    throw new PipeError(`the JSON report could not be written to ${config.reportFile}: ${(err as Error).message}`, {
      where: { variable: 'REPORT_FILE' },
      hint: 'the log above is the record of this run; point REPORT_FILE at a writable file',
    });
  }
}

/** An object with its keys masked (an app's name may be a key); anything else as it is. */
function maskKeys(value: unknown): unknown {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
  const entries = Object.entries(value as Record<string, unknown>);
  return entries.some(([k]) => mask(k) !== k) ? Object.fromEntries(entries.map(([k, v]) => [mask(k), v])) : value;
}
