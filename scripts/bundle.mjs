#!/usr/bin/env node
// Bundles src/main.ts into one ESM file, dist/main.js, that runs with Node 20 and nothing else:
// the container image ships this file alone (no node_modules).
import { build } from 'esbuild';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const outfile = process.argv[2] ? resolve(process.argv[2]) : join(root, 'dist', 'main.js');

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
  format: 'esm',
  target: 'node20',
  // ESM builds of dependencies where they exist: smaller and tree-shakable
  mainFields: ['module', 'main'],
  // CommonJS dependencies call require() for Node built-ins; ESM has no require of its own
  banner: { js: "import { createRequire as __pipeCreateRequire } from 'node:module'; const require = __pipeCreateRequire(import.meta.url);" },
  // outside npm (the container) there is no npm_package_version; `--version` still answers
  define: { 'process.env.npm_package_version': JSON.stringify(pkg.version) },
  // fully minified: V8 compiles the whole file before the first line can be printed, so every
  // byte costs start-up time; main.js.map maps stack traces back (NODE_OPTIONS=--enable-source-maps)
  minify: true,
  sourcemap: 'linked',
  sourcesContent: false,
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
  plugins: [missingLazyStages, zodEnglishOnly],
}).catch(() => process.exit(1)); // esbuild has printed the errors

const size = (f) => `${(result.metafile.outputs[f].bytes / 1024).toFixed(0)} KiB`;
const [js, map] = Object.keys(result.metafile.outputs).sort((a, b) => a.length - b.length);
console.log(`bundle: ${outfile} (${size(js)}, source map ${size(map)})`);
