// Wires the stages; the only place that knows their order:
// config -> root manifest -> change plan -> identity -> render -> apply -> report.
import { loadConfig } from './config/index.js';
import { createLogger } from './report/logger.js';
import { PipeError, ExitCode } from './util/errors.js';
import { mask } from './report/mask.js';

export async function run(env: NodeJS.ProcessEnv): Promise<number> {
  let logger = createLogger({ debug: /^(true|yes|1|on)$/i.test(env.DEBUG ?? '') });
  try {
    const config = loadConfig(env);
    logger = createLogger({ debug: config.debug });
    logger.info(`app-of-apps-pipe: mode ${config.mode}, root ${config.rootManifest}`);
    throw new PipeError('not implemented yet');
  } catch (err) {
    return reportFailure(err, logger);
  }
}

function reportFailure(err: unknown, logger: ReturnType<typeof createLogger>): number {
  if (err instanceof PipeError) {
    logger.failure(err.located);
    for (const d of err.details) logger.error(`  ${d}`);
    if (err.hint) logger.info(`  What to do: ${err.hint}`);
    return err.exitCode;
  }
  logger.failure(`internal error: ${mask(err instanceof Error ? (err.stack ?? err.message) : String(err))}`);
  return ExitCode.deployFailed;
}
