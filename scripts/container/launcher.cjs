#!/usr/bin/env node
// The pipe's entry point (dist/main.js, /pipe/main.js in the image): runs the bundle pipe.cjs
// beside it. When pipe.cjs.cache exists (the image makes it at build time), V8 takes the
// compiled code from it instead of compiling 1 MB of JavaScript on every start: Node 20 has no
// compile cache of its own. A cache V8 rejects (another Node build) only costs the compile.
// CommonJS (package.json beside it says so): an ES module entry costs the ESM loader's start.
'use strict';
const { readFileSync } = require('node:fs');
const { Module } = require('node:module');
const { join } = require('node:path');
const { Script } = require('node:vm');

const file = join(__dirname, 'pipe.cjs');
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
  // esbuild writes ASCII only (its default charset), so latin1 decodes it exactly, and faster
  const script = new Script(Module.wrap(readFileSync(file, 'latin1')), { filename: file, cachedData });
  const bundle = { exports: {}, filename: file, id: file, loaded: false };
  script.runInThisContext()(bundle.exports, require, bundle, file, __dirname);
}
