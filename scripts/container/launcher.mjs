#!/usr/bin/env node
// The pipe's entry point (dist/main.js, /pipe/main.js in the image): runs the bundle pipe.cjs
// beside it. When pipe.cjs.cache exists (the image makes it at build time), V8 takes the
// compiled code from it instead of compiling 1 MB of JavaScript on every start: Node 20 has no
// compile cache of its own. A cache V8 rejects (another Node build) only costs the compile.
import { readFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const file = fileURLToPath(new URL('./pipe.cjs', import.meta.url));
const require = createRequire(file);

let cachedData;
try {
  cachedData = readFileSync(`${file}.cache`);
} catch {
  // no cache: the plain CommonJS load below
}

// --enable-source-maps maps stack traces only for modules Node loads itself
if (!cachedData || process.sourceMapsEnabled) {
  require(file);
} else {
  const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
  const module = { exports: {}, filename: file, id: file, loaded: false };
  script.runInThisContext()(module.exports, require, module, file, dirname(file));
}
