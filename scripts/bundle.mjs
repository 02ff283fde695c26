#!/usr/bin/env node
// Bundles src/main.ts and its dependencies into one file, DIR/pipe.cjs, that runs with Node 20
// and nothing else (the image ships no node_modules), plus its entry point DIR/main.js (see
// scripts/container/launcher.cjs) and a package.json that makes DIR CommonJS.
// `node DIR/main.js` runs the pipe.
//   usage: node scripts/bundle.mjs [DIR] [--code-cache]      (DIR defaults to dist)
// --code-cache also writes V8's code cache for the Node running this script (the image build).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const args = process.argv.slice(2);
const outdir = resolve(args.find((a) => !a.startsWith('--')) ?? join(root, 'dist'));
const outfile = join(outdir, 'pipe.cjs');

// A lazily imported stage that is not written yet stays external (a warning now, a clear
// ERR_MODULE_NOT_FOUND if that path runs); a missing static import still fails the build.
const missingLazyStages = {
  name: 'missing-lazy-stages',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (args.kind !== 'dynamic-import') return undefined;
      const ts = resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts'));
      if (existsSync(ts) || existsSync(resolve(args.resolveDir, args.path))) return undefined;
      return { path: args.path, external: true, warnings: [{ text: `${args.path} does not exist yet; left external` }] };
    });
  },
};

// zod's classic API re-exports every locale (~250 KiB); the pipe's messages are English, and
// z.locales.en stays available.
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer)
        ? { path: resolve(args.resolveDir, '../locales/en.js'), namespace: 'zod-locales' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: dirname(args.path),
    }));
  },
};

const result = await build({
  absWorkingDir: root,
  entryPoints: ['src/main.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  // CommonJS: V8's code cache (the launcher) is reachable for scripts only, not for ES modules
  format: 'cjs',
  target: 'node20',
  // ESM builds of dependencies where they exist: smaller and tree-shakable
  mainFields: ['module', 'main'],
  // "use strict" first: the banner would otherwise push esbuild's directive out of the prologue
  banner: { js: '"use strict";var __pipeUrl = require("node:url").pathToFileURL(__filename).href;' },
  define: {
    'import.meta.url': '__pipeUrl',
    // outside npm (the container) there is no npm_package_version; `--version` still answers
    'process.env.npm_package_version': JSON.stringify(pkg.version),
  },
  // fully minified: V8 compiles the whole file before the first line can be printed, so every
  // byte costs start-up time; main.js.map maps stack traces back (NODE_OPTIONS=--enable-source-maps)
  minify: true,
  // the launcher reads the bundle as latin1, exact for ASCII; say so rather than rely on the default
  charset: 'ascii',
  // import() of what stays outside the bundle (node:http, node:async_hooks in the AWS SDK) becomes
  // require(): the launcher runs the bundle as a vm.Script, which has no dynamic import of its own
  supported: { 'dynamic-import': false },
  sourcemap: 'linked',
  sourcesContent: false,
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
  plugins: [missingLazyStages, zodEnglishOnly],
}).catch(() => process.exit(1)); // esbuild has printed the errors

// main.ts's hashbang would be a syntax error once the launcher wraps the bundle in a function;
// a comment of the same length keeps the source map's lines
writeFileSync(outfile, readFileSync(outfile, 'utf8').replace(/^#!/, '//'));
copyFileSync(join(root, 'scripts', 'container', 'launcher.cjs'), join(outdir, 'main.js'));
writeFileSync(join(outdir, 'package.json'), '{ "type": "commonjs" }\n');
// a cache made for an older bundle would be rejected by V8: never keep one
rmSync(`${outfile}.cache`, { force: true });
const size = (f) => `${(result.metafile.outputs[f].bytes / 1024).toFixed(0)} KiB`;
const [js, map] = Object.keys(result.metafile.outputs).sort((a, b) => a.length - b.length);
console.log(`bundle: ${outfile} (${size(js)}, source map ${size(map)}), entry ${join(outdir, 'main.js')}`);
if (args.includes('--code-cache')) {
  try {
    execFileSync(process.execPath, [join(root, 'scripts', 'container', 'code-cache.mjs'), outdir], { stdio: 'inherit' });
  } catch {
    process.exit(1); // code-cache.mjs has printed why
  }
}
