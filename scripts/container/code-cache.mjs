#!/usr/bin/env node
// Image build step: writes DIR/pipe.cjs.cache, V8's compiled code for the bundle, for the
// launcher (main.js) to start from. The bundle runs once (`--version`, which loads every module
// the pipe loads at start) before the cache is taken, so the cache holds those modules'
// compiled code too, not only the top level. Run it with the Node that will run the pipe.
//   usage: node code-cache.mjs DIR
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { join, resolve } from 'node:path';
import { Script } from 'node:vm';

const dir = resolve(process.argv[2] ?? 'dist');
const file = join(dir, 'pipe.cjs');
const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file });
process.argv = [process.argv[0], join(dir, 'main.js'), '--version'];
const module = { exports: {}, filename: file, id: file, loaded: false };
script.runInThisContext()(module.exports, createRequire(file), module, file, dir);
// the pipe's main() is asynchronous: take the cache once it has finished
process.once('beforeExit', () => {
  const data = script.createCachedData();
  writeFileSync(`${file}.cache`, data);
  console.log(`code-cache: ${file}.cache (${(data.length / 1024).toFixed(0)} KiB)`);
});
