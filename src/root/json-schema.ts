import { z } from 'zod';
import { rootSchema } from './schema.js';

/** docs/root-manifest.schema.json: the native root's JSON Schema, generated from the zod schema. */
export function rootJsonSchema(): string {
  const schema = z.toJSONSchema(rootSchema, { target: 'draft-2020-12', io: 'input' });
  return `${JSON.stringify({ ...schema, title: 'app-of-apps-pipe root manifest (app-of-apps/v1)' }, null, 2)}\n`;
}
