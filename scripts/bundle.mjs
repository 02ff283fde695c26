#!/usr/bin/env node
// Bundles src/main.ts and its dependencies into one file, DIR/pipe.cjs, that runs with Node 20
// and nothing else (the image ships no node_modules), plus its entry point DIR/main.js (see
// scripts/container/launcher.cjs) and a package.json that makes DIR CommonJS.
// `node DIR/main.js` runs the pipe.
//   usage: node scripts/bundle.mjs [DIR] [--snapshot]      (DIR defaults to dist)
// --snapshot also writes DIR/pipe.blob, V8's startup snapshot of the bundle (src/startup-snapshot.ts),
// for the Node running this script (the image build), and DIR/entrypoint.sh, which starts the
// pipe from it: `DIR/entrypoint.sh` runs the pipe as the image does.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipeBuildOptions } from './bundle-options.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const args = process.argv.slice(2);
const outdir = resolve(args.find((a) => !a.startsWith('--')) ?? join(root, 'dist'));
const outfile = join(outdir, 'pipe.cjs');

const result = await build({
  ...pipeBuildOptions,
  absWorkingDir: root,
  entryPoints: ['src/main.ts'],
  outfile,
  // CommonJS: a startup snapshot is built from one script (no ES modules, no require of files)
  format: 'cjs',
  // "use strict" first: the banner would otherwise push esbuild's directive out of the prologue
  banner: { js: '"use strict";var __pipeUrl = require("node:url").pathToFileURL(__filename).href;' },
  define: {
    'import.meta.url': '__pipeUrl',
    // outside npm (the container) there is no npm_package_version; `--version` still answers
    'process.env.npm_package_version': JSON.stringify(pkg.version),
  },
  // import() of what stays outside the bundle (node:http, node:async_hooks in the AWS SDK) becomes
  // require(): code started from a snapshot has no module loader for import()
  supported: { 'dynamic-import': false },
  // pipe.cjs.map maps stack traces back to src/ (NODE_OPTIONS=--enable-source-maps)
  sourcemap: 'linked',
  sourcesContent: false,
  metafile: true,
}).catch(() => process.exit(1)); // esbuild has printed the errors

// main.ts's hashbang is not valid in the script the snapshot builder runs; a comment of the same
// length keeps the source map's lines
writeFileSync(outfile, readFileSync(outfile, 'utf8').replace(/^#!/, '//'));
copyFileSync(join(root, 'scripts', 'container', 'launcher.cjs'), join(outdir, 'main.js'));
writeFileSync(join(outdir, 'package.json'), '{ "type": "commonjs" }\n');
// a snapshot of an older bundle must never be started with this one
const blob = join(outdir, 'pipe.blob');
const entrypoint = join(outdir, 'entrypoint.sh');
rmSync(blob, { force: true });
rmSync(entrypoint, { force: true });
const size = (f) => `${(result.metafile.outputs[f].bytes / 1024).toFixed(0)} KiB`;
const [js, map] = Object.keys(result.metafile.outputs).sort((a, b) => a.length - b.length);
console.log(`bundle: ${outfile} (${size(js)}, source map ${size(map)}), entry ${join(outdir, 'main.js')}`);
if (args.includes('--snapshot')) buildSnapshot();

/**
 * V8's startup snapshot of the bundle, by this Node (only the same Node build can start from it).
 * The builder runs in an empty directory with no environment but PATH: nothing of this machine's
 * can end up in the snapshot.
 */
function buildSnapshot() {
  const empty = mkdtempSync(join(tmpdir(), 'app-of-apps-snapshot-'));
  try {
    const r = spawnSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', outfile], {
      cwd: empty,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      encoding: 'utf8',
    });
    // Node notes that child_process is "not yet fully verified" in snapshot builders; the bundle
    // only loads it there (nothing is spawned before the snapshot is taken), and the image's
    // checks run the pipe, its git calls and its credential plugin from the snapshot
    const stderr = r.stderr
      .split('\n')
      .filter((l) => !/not yet fully verified|may still work in some cases|To request support for the module|--trace-warnings/.test(l))
      .join('\n')
      .trim();
    if (r.status !== 0 || !existsSync(blob)) {
      console.error(`snapshot: building ${blob} failed (exit ${r.status ?? r.signal})${stderr ? `:\n${stderr}` : ''}`);
      process.exit(1);
    }
    if (stderr) console.error(stderr);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
  copyFileSync(join(root, 'scripts', 'container', 'entrypoint.sh'), entrypoint);
  chmodSync(entrypoint, 0o755);
  console.log(`snapshot: ${blob} (${(readFileSync(blob).length / 1024 / 1024).toFixed(1)} MiB), entry ${entrypoint}`);
}
