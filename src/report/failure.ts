import { ExitCode, PipeError } from '../util/errors.js';
import type { Logger } from './logger.js';
import { mask } from './mask.js';

/** The last lines of a failed run: what went wrong, where, and what to do. */
export function reportFailure(err: unknown, logger: Logger): number {
  if (err instanceof PipeError) {
    logger.failure(err.located);
    for (const d of err.details) logger.error(`  ${d}`);
    if (err.hint) logger.info(`What to do: ${err.hint}`);
    if (err.exitCode === ExitCode.badInput) logger.info('Nothing was applied.');
    return err.exitCode;
  }
  logger.failure(`internal error: ${mask(err instanceof Error ? (err.stack ?? err.message) : String(err))}`);
  logger.info('This is a bug in app-of-apps-pipe; please report it with the output above (run with DEBUG=true for detail).');
  return ExitCode.deployFailed;
}
