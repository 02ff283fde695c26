#!/usr/bin/env node
// Image build step: writes DIR/pipe.cjs.cache, V8's compiled code for the bundle, for the
// launcher (main.js) to start from. Before the cache is taken the bundle runs once the way a
// pipeline starts it (plan mode, in an empty directory: it gets past the variables and its
// first log line, then stops at the missing repository), so the cache holds the code of that
// whole start, not only the top level. Run it with the Node that will run the pipe.
//   usage: node code-cache.mjs DIR
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Script } from 'node:vm';

const dir = resolve(process.argv[2] ?? 'dist');
const file = join(dir, 'pipe.cjs');
const empty = mkdtempSync(join(tmpdir(), 'app-of-apps-code-cache-'));
// read as the launcher reads it (the bundle is ASCII)
const script = new Script(Module.wrap(readFileSync(file, 'latin1')), { filename: file });

process.argv = [process.argv[0], join(dir, 'main.js')];
for (const key of Object.keys(process.env)) delete process.env[key];
Object.assign(process.env, { MODE: 'plan', BITBUCKET_CLONE_DIR: empty, PATH: '/nonexistent' });
// the warm-up run's log lines (and its expected failure) are not the build's business
const write = { out: process.stdout.write, err: process.stderr.write };
process.stdout.write = process.stderr.write = () => true;

const module = { exports: {}, filename: file, id: file, loaded: false };
script.runInThisContext()(module.exports, createRequire(file), module, file, dir);
// the pipe's run is asynchronous: take the cache once it has finished, or after 60 s at the latest
const finish = () => {
  process.stdout.write = write.out;
  process.stderr.write = write.err;
  const data = script.createCachedData();
  writeFileSync(`${file}.cache`, data);
  rmSync(empty, { recursive: true, force: true });
  console.log(`code-cache: ${file}.cache (${(data.length / 1024).toFixed(0)} KiB)`);
  process.exit(0);
};
process.once('beforeExit', finish);
setTimeout(finish, 60_000).unref();
