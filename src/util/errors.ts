/** Exit codes are part of the pipe's contract (README "Exit codes"). */
export const ExitCode = {
  ok: 0,
  deployFailed: 1,
  badInput: 2,
  diffFound: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface Location {
  /** Repository-relative path of the file, or the name of a pipe variable. */
  file?: string;
  variable?: string;
  /** A field of the file, when the file is the root manifest: "environments.staging.roleArn". */
  field?: string;
  line?: number;
  column?: number;
}

/**
 * An error the user can act on: what went wrong, where, and what to do.
 * Everything thrown on purpose inside the pipe is a PipeError; anything else is a bug.
 */
export class PipeError extends Error {
  readonly exitCode: ExitCode;
  readonly hint?: string;
  readonly where?: Location;
  readonly details: string[];

  constructor(
    message: string,
    opts: { exitCode?: ExitCode; hint?: string; where?: Location; details?: string[]; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'PipeError';
    this.exitCode = opts.exitCode ?? ExitCode.deployFailed;
    this.hint = opts.hint;
    this.where = opts.where;
    this.details = opts.details ?? [];
  }

  /** "file:line: message" or "VARIABLE: message". */
  get located(): string {
    return `${formatLocation(this.where)}${this.message}`;
  }
}

/** Bad input: pipe variables, manifests, git state. Exit code 2, nothing applied. */
export class InputError extends PipeError {
  constructor(message: string, opts: { hint?: string; where?: Location; details?: string[]; cause?: unknown } = {}) {
    super(message, { ...opts, exitCode: ExitCode.badInput });
    this.name = 'InputError';
  }
}

export function formatLocation(where: Location | undefined): string {
  if (!where) return '';
  if (where.variable) return `${where.variable}: `;
  if (!where.file) return '';
  if (where.field) return `${where.file}: ${where.field}: `;
  const line = where.line !== undefined ? `:${where.line}${where.column !== undefined ? `:${where.column}` : ''}` : '';
  return `${where.file}${line}: `;
}

/** A place in a sentence: "AWS_OIDC_ROLE_ARN", or "environments.staging.roleArn in app-of-apps.yaml". */
export function placeName(where: Location): string {
  if (where.variable) return where.variable;
  if (where.field) return `${where.field} in ${where.file}`;
  return where.file ?? 'the input';
}

const EACH_PROBLEM = 'fix each problem listed above (each names its place and what to do), then run again';

/** Several input problems found in one pass, reported together. */
export class InputErrors extends InputError {
  readonly errors: InputError[];
  constructor(errors: InputError[]) {
    super(errors.length === 1 ? errors[0]!.message : `${errors.length} problems in the input`, {
      where: errors.length === 1 ? errors[0]!.where : undefined,
      hint: errors.length === 1 ? errors[0]!.hint : EACH_PROBLEM,
      details: errors.length === 1 ? errors[0]!.details : errors.map((e) => e.located + (e.hint ? ` (${e.hint})` : '')),
    });
    this.errors = errors;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Several failures reported as one: bad input (exit 2) only when every one of them is bad input,
 * so a tool crash or a timeout among them still reads as a failure of the run (exit 1).
 */
export function combineErrors(errors: PipeError[], summary: string): PipeError {
  if (errors.length === 1) return errors[0]!;
  // each problem, its own lines (a tool's message), then what to do about it: a hint may speak of "the lines above"
  const details = errors.flatMap((e) => [e.located, ...e.details.map((d) => `  ${d}`), ...(e.hint ? [`  what to do: ${e.hint}`] : [])]);
  const exitCode = errors.every((e) => e.exitCode === ExitCode.badInput) ? ExitCode.badInput : ExitCode.deployFailed;
  return new CombinedError(summary, errors, { exitCode, details, hint: EACH_PROBLEM });
}

/** Several failures as one, each kept (`errors`) for reports that place them on their files and lines. */
export class CombinedError extends PipeError {
  constructor(
    message: string,
    readonly errors: PipeError[],
    opts: ConstructorParameters<typeof PipeError>[1],
  ) {
    super(message, opts);
    this.name = 'CombinedError';
  }
}
