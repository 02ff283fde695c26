// The esbuild options of the pipe's bundle, shared by scripts/bundle.mjs and the benchmarks that
// bundle part of the pipe (bench/plan.ts): what is measured is built as what ships.
import { dirname, resolve } from 'node:path';

// zod's classic API re-exports every locale (~250 KiB); the pipe's messages are English, and
// z.locales.en stays available.
export const zodEnglishOnly = {
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

/** What every bundle of the pipe's code uses; entry points, format and output are the caller's. */
export const pipeBuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  // ESM builds of dependencies where they exist: smaller and tree-shakable
  mainFields: ['module', 'main'],
  // fully minified: every byte is parsed at a start without the snapshot, and the snapshot holds
  // the source too
  minify: true,
  // ASCII (non-ASCII as escapes): V8 keeps a source with any character beyond Latin-1 (the log's
  // ✔ and ✖) at two bytes a character, in memory and in the snapshot
  charset: 'ascii',
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [zodEnglishOnly],
};
