// The image's V8 startup snapshot, made at image build time by
//   node --snapshot-blob /pipe/pipe.blob --build-snapshot /pipe/pipe.cjs
// and started by /pipe/entrypoint.sh. A start from the snapshot finds the modules that run
// before the pipe's first log line (main, run, config, logger) evaluated and the variables'
// schema already used once, instead of compiling and evaluating them on every start.
//
// Only that first-line path is evaluated here: every module in the snapshot is deserialized at
// every start, so the later stages (root manifest, plan, render, apply) load when a run reaches
// them, as they do without a snapshot.
//
// Whatever runs here must not keep a run's facts (environment, working directory, arguments,
// time) in a module-level variable: the snapshot would carry the build's values into every run.
import { startupSnapshot } from 'node:v8';

/** Evaluates the first-line modules and uses the variables' schema once; `start` runs the pipe from the snapshot. */
export async function prepareSnapshot(start: () => void): Promise<void> {
  startupSnapshot.setDeserializeMainFunction(start);
  const [{ loadConfig }] = await Promise.all([import('./config/index.js'), import('./run.js')]);
  // a plan-mode configuration: the schema's every variable is checked, nothing is kept
  loadConfig({ MODE: 'plan', BITBUCKET_CLONE_DIR: '/', ENVIRONMENT: 'staging', DEBUG: 'false' }, '/');
}
