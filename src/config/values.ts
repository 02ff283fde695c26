import { z } from 'zod';
import { FALSE, isTrue, TRUE } from './booleans.js';

/**
 * A pipe variable: validated first (so every bad variable is reported in one run), then converted.
 * `check` returns an error message, or undefined when the value is fine.
 */
function variable<T>(check: (v: string) => string | undefined, convert: (v: string | undefined) => T) {
  return z
    .string()
    .optional()
    .superRefine((v, ctx) => {
      if (v === undefined || v.trim() === '') return;
      const problem = check(v);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .transform((v) => convert(v === undefined || v.trim() === '' ? undefined : v.trim()));
}

/** Booleans as Bitbucket users write them: true/false/yes/no/1/0/on/off, any case. */
export const booleanVar = (fallback: boolean) =>
  variable(
    (v) => (TRUE.includes(v.trim().toLowerCase()) || FALSE.includes(v.trim().toLowerCase()) ? undefined : `expected true/false (or yes/no, on/off, 1/0), got "${v}"`),
    (v) => (v === undefined ? fallback : isTrue(v)),
  );

/** A boolean whose default depends on other variables: undefined when unset. */
export const optionalBooleanVar = () =>
  variable(
    (v) => (TRUE.includes(v.trim().toLowerCase()) || FALSE.includes(v.trim().toLowerCase()) ? undefined : `expected true/false (or yes/no, on/off, 1/0), got "${v}"`),
    (v) => (v === undefined ? undefined : isTrue(v)),
  );

/** Durations: "300", "300s", "5m", "1h30m". Result in seconds. */
export function parseDuration(v: string): number | undefined {
  const s = v.trim().toLowerCase();
  if (/^\d+$/.test(s)) return Number(s);
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(s);
  if (!m || s === '') return undefined;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

/** The longest wait a duration may ask for (TIMEOUT, a root's timeout): a day. */
export const MAX_DURATION_SECONDS = 24 * 3600;

export const durationVar = (fallbackSeconds: number, min = 1, max = MAX_DURATION_SECONDS) =>
  variable(
    (v) => {
      const s = parseDuration(v);
      return s === undefined || s < min || s > max
        ? `expected a duration between ${min}s and ${max}s such as 300, 90s, 5m or 1h30m, got "${v}"`
        : undefined;
    },
    (v) => (v === undefined ? fallbackSeconds : parseDuration(v)!),
  );

export const intVar = (fallback: number, min: number, max: number) =>
  variable(
    (v) => {
      const n = Number(v.trim());
      return Number.isInteger(n) && n >= min && n <= max ? undefined : `expected a whole number from ${min} to ${max}, got "${v}"`;
    },
    (v) => (v === undefined ? fallback : Number(v)),
  );

export const enumVar = <T extends string>(values: readonly [T, ...T[]], fallback: T) =>
  variable(
    (v) => ((values as readonly string[]).includes(v.trim().toLowerCase()) ? undefined : `expected one of ${values.join(', ')}, got "${v}"`),
    (v) => (v === undefined ? fallback : (v.toLowerCase() as T)),
  );

/** A string checked against a pattern; unset and empty are the same. */
export const stringVar = (pattern?: RegExp, expected?: string) =>
  variable(
    (v) => (pattern && !pattern.test(v.trim()) ? `${expected ?? `expected ${pattern}`}, got "${v}"` : undefined),
    (v) => v,
  );

/** "a, b c" -> ["a", "b", "c"]; a value of separators only names nothing, which is an error, not "all". */
export const listVar = variable(
  (v) => (v.split(/[\s,]+/).some(Boolean) ? undefined : `names nothing: list names separated by commas or spaces, or leave it unset, got "${v}"`),
  (v) => (v ?? '').split(/[\s,]+/).filter(Boolean),
);
