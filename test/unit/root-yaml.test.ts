import { isMap, isSeq, LineCounter, parseAllDocuments, type Node } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseYaml, type PathKey } from '../../src/root/yaml.js';

/** Every map and list path of a document, with its line as the `yaml` package (the reference) sees it. */
function referenceLines(text: string): Map<string, number>[] {
  const lc = new LineCounter();
  return parseAllDocuments(text, { lineCounter: lc, merge: true }).map((doc) => {
    const out = new Map<string, number>();
    const walk = (node: Node | null, path: PathKey[]) => {
      if (!node) return;
      if (isMap(node) || isSeq(node)) out.set(JSON.stringify(path), lc.linePos(node.range![0]).line);
      if (isMap(node)) for (const p of node.items) walk(p.value as Node, [...path, String((p.key as { value: unknown }).value)]);
      if (isSeq(node)) node.items.forEach((n, i) => walk(n as Node, [...path, i]));
    };
    walk(doc.contents as Node, []);
    return out;
  });
}

const TRICKY = `# leading comment
%YAML 1.2
---
# comment above the content
apiVersion: app-of-apps/v1
apps:   # trailing comment

  - name: a     # block map in a list
    helm:
      values:
        nested: { deep: [1, 2, { x: 1 }] }
  -
    name: b
    list:
      - - inner
        - list
  - { name: c, path: "x" }
  - &anchored
    name: d
  - <<: *anchored
    name: e
empty: {}
--- # second document
- one
- two: { three: 3 }
...
---
kind: Third
spec:
  template:
    metadata:
      labels: {a: b}
`;

describe('parseYaml', () => {
  it('places every map and list on the line the yaml package does', () => {
    const { docs, errors } = parseYaml(TRICKY, 't.yaml');
    expect(errors).toEqual([]);
    const reference = referenceLines(TRICKY);
    expect(docs).toHaveLength(reference.length);
    docs.forEach((doc, i) => {
      for (const [path, line] of reference[i]!) expect([path, doc.lineOf(JSON.parse(path) as PathKey[])]).toEqual([path, line]);
    });
    expect(docs.map((d) => d.line)).toEqual([5, 24, 28]);
    expect(docs[0]!.comment).toBe(' comment above the content');
    expect(docs[1]!.value).toEqual(['one', { two: { three: 3 } }]);
  });

  it('finds scalars, missing keys and keys through the precise parse', () => {
    const { docs } = parseYaml(TRICKY, 't.yaml');
    const doc = docs[0]!;
    expect(doc.lineOf(['apps', 1, 'name'])).toBe(13);
    expect(doc.lineOf(['apps', 1, 'missing'])).toBe(13);
    expect(doc.keyLineOf(['apps', 0], 'helm')).toBe(9);
    expect(doc.value).toMatchObject({ apps: [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }, { name: 'e' }] });
  });

  it('reads the YAML 1.2 core schema: yes/no and dates stay strings, merge keys merge', () => {
    const { docs } = parseYaml('a: yes\nb: 2024-01-01\nc: 0o17\nd: ~\nbase: &b { x: 1 }\ne: { <<: *b, y: 2 }\n', 'x.yaml');
    expect(docs[0]!.value).toEqual({ a: 'yes', b: '2024-01-01', c: 15, d: null, base: { x: 1 }, e: { x: 1, y: 2 } });
  });

  it('reports every syntax error of a file, and duplicate keys', () => {
    const { errors } = parseYaml('a: 1\na: 2\nb: [1, 2\n', 'x.yaml');
    expect(errors.map((e) => e.located)).toEqual([
      'x.yaml:2:1: Map keys must be unique',
      expect.stringMatching(/^x\.yaml:4:1: /),
    ]);
  });

  it('takes the comment above each document of helm template output', () => {
    const { docs } = parseYaml('---\n# Source: c/templates/a.yaml\nkind: A\n---\n# Source: c/templates/b.yaml\nkind: B\n', 'out');
    expect(docs.map((d) => [d.comment, d.line])).toEqual([
      [' Source: c/templates/a.yaml', 3],
      [' Source: c/templates/b.yaml', 6],
    ]);
  });
});
