import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, visit, type Document, type Node } from 'yaml';
import { InputError } from '../util/errors.js';

/**
 * YAML with positions: every value keeps the line it came from, so an error found later
 * (schema, duplicate name, missing path) names file:line.
 */
export type PathKey = string | number;

/** Aliases one document may expand; far above any honest manifest, far below a "billion laughs" bomb. */
export const MAX_ALIAS_COUNT = 100;

export interface YamlDoc {
  file: string;
  /** The document as plain data (undefined for an empty document). */
  value: unknown;
  /** First line of the document's content. */
  line: number;
  /** The comment just above the content (helm template writes "# Source: <template>" there). */
  comment?: string;
  /** Line of the value at `path`, or of the deepest ancestor that exists. */
  lineOf(path: readonly PathKey[]): number;
  /** Line of `key` itself inside the map at `path` (for "unknown key" errors). */
  keyLineOf(path: readonly PathKey[], key: string): number;
}

/** Parses every document of a file; all syntax problems of the file come back together. */
export function parseYaml(text: string, file: string): { docs: YamlDoc[]; errors: InputError[] } {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter, merge: true, uniqueKeys: true, prettyErrors: true });
  const errors: InputError[] = [];
  const docs: YamlDoc[] = [];
  const lineAt = (offset: number) => lineCounter.linePos(offset).line;
  for (const doc of Array.isArray(parsed) ? parsed : [parsed]) {
    if (doc.errors.length) {
      for (const e of doc.errors) {
        errors.push(
          new InputError(e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''), {
            where: { file, line: e.linePos?.[0].line ?? lineAt(e.pos[0]), column: e.linePos?.[0].col },
            hint: 'fix the YAML syntax (indentation, quotes, unclosed brackets)',
          }),
        );
      }
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (e) {
      errors.push(
        new InputError(`YAML aliases expand too far (over ${MAX_ALIAS_COUNT} alias uses): ${(e as Error).message}`, {
          where: { file, line: firstAliasLine(doc, lineAt) },
          hint: 'write the values out instead of nesting anchors and aliases',
        }),
      );
      continue;
    }
    const contents = doc.contents as Node | null;
    const start = contents?.range?.[0] ?? doc.range[0];
    docs.push({
      file,
      value: value ?? undefined,
      line: lineAt(start),
      comment: contents?.commentBefore ?? doc.commentBefore ?? undefined,
      lineOf: (path) => lineAt(nodeAt(contents, path).range?.[0] ?? start),
      keyLineOf: (path, key) => {
        const node = nodeAt(contents, path);
        const pair = isMap(node) ? node.items.find((p) => isPair(p) && keyText(p.key) === key) : undefined;
        const keyNode = pair?.key as Node | undefined;
        return lineAt(keyNode?.range?.[0] ?? node.range?.[0] ?? start);
      },
    });
  }
  return { docs, errors };
}

/** The node at `path`, or the deepest ancestor that exists (so a missing key points at its parent). */
function nodeAt(root: Node | null, path: readonly PathKey[]): Node {
  let node = root as Node;
  for (const key of path) {
    let next: unknown;
    if (isMap(node)) next = node.items.find((p) => isPair(p) && keyText(p.key) === String(key))?.value;
    else if (isSeq(node) && typeof key === 'number') next = node.items[key];
    if (!next || !(next as Node).range) break;
    node = next as Node;
  }
  return node;
}

function keyText(key: unknown): string | undefined {
  return isScalar(key) ? String(key.value) : undefined;
}

function firstAliasLine(doc: Document, lineAt: (offset: number) => number): number | undefined {
  let line: number | undefined;
  visit(doc, {
    Alias(_, node) {
      line = lineAt(node.range?.[0] ?? 0);
      return visit.BREAK;
    },
  });
  return line;
}
