import type { z } from 'zod';
import { InputError } from '../util/errors.js';
import { valueAt, type PathKey, type YamlDoc } from './yaml.js';
import { closest } from '../util/spelling.js';

const SCHEMA_HINT = 'see docs/root-manifest.md for every key (editors validate with docs/root-manifest.schema.json)';

/** zod issues -> one InputError each, at the line the offending value (or key) was written. */
export function schemaErrors(issues: z.core.$ZodIssue[], doc: YamlDoc, schema: z.ZodType): InputError[] {
  const errors: InputError[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((k): k is PathKey => typeof k !== 'symbol');
    const at = describePath(path);
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(schema, path);
      for (const key of issue.keys) {
        const guess = closest(key, known);
        errors.push(
          new InputError(`unknown key "${key}"${at ? ` in ${at}` : ''}${guess ? ` (did you mean "${guess}"?)` : ''}`, {
            where: { file: doc.file, line: doc.keyLineOf(path, key) },
            hint: guess ? `rename it to "${guess}"` : `remove it; allowed here: ${known.join(', ')}`,
          }),
        );
      }
      continue;
    }
    const missing = valueAt(doc.value, path) === undefined;
    const message = missing ? `"${String(path.at(-1))}" is required${path.length > 1 ? ` in ${describePath(path.slice(0, -1))}` : ''}` : `${at}: ${issue.message}`;
    errors.push(new InputError(message, { where: { file: doc.file, line: doc.lineOf(path) }, hint: SCHEMA_HINT }));
  }
  return errors;
}

/** Errors in reading order: by file, then line (stable for equal places). */
export function inOrder(errors: InputError[]): InputError[] {
  const key = (e: InputError) => [e.where?.variable ?? '', e.where?.file ?? '', e.where?.line ?? 0] as const;
  return [...errors].sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    return x[0].localeCompare(y[0]) || x[1].localeCompare(y[1]) || x[2] - y[2];
  });
}

/** apps[2].helm.valueFiles -> "apps[2].helm.valueFiles" */
export function describePath(path: readonly PathKey[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  options?: z.ZodType[];
  in?: z.ZodType;
}
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The keys the strict object at `path` accepts (walking the schema the way the data was walked). */
function knownKeys(schema: z.ZodType, path: readonly PathKey[]): string[] {
  let current: z.ZodType | undefined = schema;
  for (const key of [...path, undefined]) {
    current = unwrap(current);
    if (!current) return [];
    const def = defOf(current);
    if (key === undefined) return def.type === 'object' ? Object.keys(def.shape ?? {}) : [];
    if (def.type === 'object') current = def.shape?.[String(key)];
    else if (def.type === 'array') current = def.element;
    else if (def.type === 'record') current = def.valueType;
    else return [];
  }
  return [];
}

function unwrap(s: z.ZodType | undefined): z.ZodType | undefined {
  while (s) {
    const def = defOf(s);
    if (def.innerType) s = def.innerType;
    else if (def.type === 'pipe' && def.in) s = def.in;
    else if (def.type === 'union') s = def.options?.find((o) => defOf(unwrap(o) ?? o).type === 'object') ?? def.options?.[0];
    else return s;
  }
  return s;
}
