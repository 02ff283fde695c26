import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { rootJsonSchema } from '../../src/root/json-schema.js';
import { rootSchema } from '../../src/root/schema.js';
import { parseYaml } from '../../src/root/yaml.js';

const docs = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs');

describe('docs/root-manifest.schema.json', () => {
  it('is what `npm run schema` generates from the zod schema (run it after changing src/root/schema.ts)', () => {
    expect(readFileSync(join(docs, 'root-manifest.schema.json'), 'utf8')).toBe(rootJsonSchema());
  });

  it('is strict and documents every key in docs/root-manifest.md', () => {
    const schema = JSON.parse(rootJsonSchema()) as unknown;
    const keys = new Set<string>();
    const objects: Record<string, unknown>[] = [];
    const walk = (node: unknown) => {
      if (Array.isArray(node)) return node.forEach(walk);
      if (node === null || typeof node !== 'object') return;
      const o = node as Record<string, unknown>;
      if (o.type === 'object' && o.properties) {
        objects.push(o);
        Object.keys(o.properties).forEach((k) => keys.add(k));
      }
      Object.values(o).forEach(walk);
    };
    walk(schema);
    expect(objects.length).toBeGreaterThan(5);
    expect(objects.every((o) => o.additionalProperties === false)).toBe(true);
    const manual = readFileSync(join(docs, 'root-manifest.md'), 'utf8');
    const undocumented = [...keys].filter((k) => !manual.includes(`\`${k}\``));
    expect(undocumented).toEqual([]);
  });

  it("docs/root-manifest.md's example root is valid", () => {
    const manual = readFileSync(join(docs, 'root-manifest.md'), 'utf8');
    const example = /```yaml\n([\s\S]*?apiVersion: app-of-apps\/v1[\s\S]*?)```/.exec(manual)![1]!;
    const { docs: parsed, errors } = parseYaml(example, 'docs/root-manifest.md');
    expect(errors).toEqual([]);
    const result = rootSchema.safeParse(parsed[0]!.value);
    expect(result.error?.issues ?? []).toEqual([]);
    expect(result.data?.apps.map((a) => a.name)).toEqual(['platform-config', 'api', 'web', 'admin']);
  });
});
