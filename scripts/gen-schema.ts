// Writes docs/root-manifest.schema.json from the zod schema of the native root manifest, so
// editors validate app-of-apps.yaml with exactly the rules the pipe applies.
//   npm run schema            write the file
//   npm run schema -- --check exit 1 if the committed file is out of date
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rootJsonSchema } from '../src/root/json-schema.js';

const file = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'root-manifest.schema.json');
const text = rootJsonSchema();
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    // a missing file is out of date too
  }
  if (current !== text) {
    console.error('docs/root-manifest.schema.json is out of date: run `npm run schema`');
    process.exit(1);
  }
} else {
  writeFileSync(file, text);
  console.log(`wrote ${file}`);
}
