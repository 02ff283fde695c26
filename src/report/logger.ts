import { mask } from './mask.js';

export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  /** Bitbucket pipe result line: "✔ ..." */
  success(msg: string): void;
  /** Bitbucket pipe result line: "✖ ..." */
  failure(msg: string): void;
  readonly debugEnabled: boolean;
}

export interface LoggerOptions {
  debug?: boolean;
  /** Where lines go; defaults to process.stdout / process.stderr. */
  out?: (line: string) => void;
  err?: (line: string) => void;
}

/** Every line passes through mask(), at every level. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const out = opts.out ?? ((line: string) => process.stdout.write(line + '\n'));
  const err = opts.err ?? ((line: string) => process.stderr.write(line + '\n'));
  const debugEnabled = opts.debug ?? false;
  const emit = (sink: (l: string) => void, prefix: string, msg: string) => {
    for (const line of mask(msg).split('\n')) sink(prefix + line);
  };
  return {
    debugEnabled,
    debug: (m) => debugEnabled && emit(err, 'DEBUG: ', m),
    info: (m) => emit(out, '', m),
    warn: (m) => emit(err, 'WARNING: ', m),
    error: (m) => emit(err, 'ERROR: ', m),
    success: (m) => emit(out, '✔ ', m),
    failure: (m) => emit(err, '✖ ', m),
  };
}

/** A logger that keeps lines in memory (tests, or capturing output of a sub-step). */
export function memoryLogger(debug = true): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ debug, out: (l) => lines.push(l), err: (l) => lines.push(l) });
  return Object.assign(logger, { lines });
}
