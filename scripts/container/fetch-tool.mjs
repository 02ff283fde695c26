#!/usr/bin/env node
// Image build helper: puts a pinned release file at OUT after checking its sha256.
// SOURCE is an https URL (the official release) or a file path (a copy in the build context);
// the build fails on any mismatch. Node's fetch does the download: the base image needs no curl.
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';

const [source, expected, out] = process.argv.slice(2);
if (!source || !/^[0-9a-f]{64}$/.test(expected ?? '') || !out) {
  console.error('usage: fetch-tool.mjs <https-url|file> <sha256> <out>');
  process.exit(2);
}

async function read(src) {
  if (!/^https:\/\//.test(src)) return readFile(src);
  const res = await fetch(src, { redirect: 'follow' });
  if (!res.ok) throw new Error(`GET ${src}: HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

try {
  const data = await read(source);
  const actual = createHash('sha256').update(data).digest('hex');
  if (actual !== expected) {
    console.error(`fetch-tool: ${source} has sha256 ${actual}, expected ${expected}; refusing it`);
    process.exit(1);
  }
  await writeFile(out, data, { mode: 0o755 });
  console.log(`fetch-tool: ${source} ok (sha256 ${actual})`);
} catch (err) {
  // fetch() reports "fetch failed" and keeps the reason (DNS, TLS, refused) in err.cause
  const why = err instanceof Error ? [err.message, err.cause?.message].filter(Boolean).join(': ') : String(err);
  console.error(`fetch-tool: ${source}: ${why}`);
  process.exit(1);
}
