import * as jsyaml from 'js-yaml';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';
import { InputError, type Location } from '../util/errors.js';

/**
 * YAML with positions, so an error found later (schema, duplicate name, missing path) names
 * file:line. Two parsers, for speed: js-yaml reads every file (about ten times faster on a root of
 * thousands of apps) and records where each map and list starts; the `yaml` package, which keeps
 * every node's position and reports all syntax errors of a file, runs only when a precise line is
 * asked for, which is when something is wrong.
 */
export type PathKey = string | number;

/** Values one document may expand to through aliases; far above an honest manifest, far below a "billion laughs". */
export const MAX_EXPANDED_VALUES = 100_000;

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

// YAML 1.2 core types plus merge keys (<<), the same data model as the `yaml` package's default.
const jsyamlTypes = (jsyaml as unknown as { types: { merge: jsyaml.Type } }).types;
const SCHEMA = jsyaml.CORE_SCHEMA.extend({ implicit: [jsyamlTypes.merge] });

/** A location whose line is looked up when it is read (in an error), not for every path that turns out fine. */
export function lazyLocation(file: string, line: () => number): Location {
  let cached: number | undefined;
  return {
    file,
    get line() {
      return (cached ??= line());
    },
  };
}

/** Parses every document of a file; all syntax problems of the file come back together. */
export function parseYaml(text: string, file: string): { docs: YamlDoc[]; errors: InputError[] } {
  const lines = lineIndex(text);
  const starts = new WeakMap<object, number>();
  const roots: number[] = [];
  const stack: number[] = [];
  let firstAlias: number | undefined;
  let values: unknown[];
  try {
    values = jsyaml.loadAll(text, null, {
      schema: SCHEMA,
      filename: file,
      listener(event, state) {
        if (event === 'open') return void stack.push(state.position);
        const open = stack.pop()!;
        const content = contentStart(text, open);
        const isAlias = text[content] === '*';
        if (isAlias) firstAlias ??= content;
        else if (state.result !== null && typeof state.result === 'object' && !starts.has(state.result)) starts.set(state.result, content);
        if (stack.length === 0) roots.push(content);
      },
    });
  } catch (e) {
    if (!(e instanceof jsyaml.YAMLException)) throw e;
    return { docs: [], errors: syntaxErrors(text, file, e) };
  }

  let precise: Document.Parsed[] | undefined;
  const preciseDoc = (i: number) => (precise ??= preciseParse(text))[i];
  const docs: YamlDoc[] = [];
  const errors: InputError[] = [];
  for (const [i, value] of values.entries()) {
    const start = roots[i] ?? 0;
    if (firstAlias !== undefined && expandedSize(value, MAX_EXPANDED_VALUES) > MAX_EXPANDED_VALUES) {
      errors.push(
        new InputError(`YAML aliases expand this document to over ${MAX_EXPANDED_VALUES} values`, {
          where: { file, line: lines.lineAt(firstAlias) },
          hint: 'write the values out instead of nesting anchors and aliases',
        }),
      );
      continue;
    }
    const comment = commentAbove(text, start);
    docs.push({
      file,
      value: value ?? undefined,
      line: lines.lineAt(start),
      comment,
      lineOf(path) {
        // a map or list: where js-yaml saw it start; anything else needs the precise parse
        const target = valueAt(value, path);
        const known = target !== null && typeof target === 'object' ? starts.get(target) : undefined;
        if (known !== undefined) return lines.lineAt(known);
        const doc = preciseDoc(i);
        return doc ? lines.lineAt(nodeAt(doc.contents as Node | null, path).range?.[0] ?? start) : lines.lineAt(start);
      },
      keyLineOf(path, key) {
        const doc = preciseDoc(i);
        if (!doc) return lines.lineAt(start);
        const node = nodeAt(doc.contents as Node | null, path);
        const pair = isMap(node) ? node.items.find((p) => isPair(p) && keyText(p.key) === key) : undefined;
        return lines.lineAt((pair?.key as Node | undefined)?.range?.[0] ?? node.range?.[0] ?? start);
      },
    });
  }
  return { docs, errors };
}

/** Every syntax error of the file (the `yaml` parser goes on after the first one; js-yaml's if it finds none). */
function syntaxErrors(text: string, file: string, first: jsyaml.YAMLException): InputError[] {
  const hint = 'fix the YAML syntax (indentation, quotes, unclosed brackets)';
  const errors = parseAllDocuments(text, { lineCounter: new LineCounter(), merge: true, uniqueKeys: true, prettyErrors: true })
    .flatMap((d) => d.errors)
    .map(
      (e) =>
        new InputError(e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''), {
          where: { file, line: e.linePos?.[0].line, column: e.linePos?.[0].col },
          hint,
        }),
    );
  // valid YAML nested deeper than a parser follows (thousands of levels) is no syntax error
  const deep = [first, ...errors].find((e) => /maximum call stack/i.test(e.message));
  if (deep) {
    const line = deep instanceof InputError ? deep.where?.line : (first.mark?.line ?? 0) + 1;
    return [new InputError('the YAML is nested too deeply to read', { where: { file, line }, hint: 'nest values less deeply: a manifest needs a few dozen levels at most' })];
  }
  if (errors.length) return errors;
  return [new InputError(first.reason || first.message, { where: { file, line: (first.mark?.line ?? 0) + 1, column: (first.mark?.column ?? 0) + 1 }, hint })];
}

function preciseParse(text: string): Document.Parsed[] {
  const docs = parseAllDocuments(text, { merge: true, uniqueKeys: true });
  return Array.isArray(docs) ? docs : [docs];
}

/** Offset -> 1-based line. */
function lineIndex(text: string) {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return {
    lineAt(offset: number): number {
      let lo = 0;
      let hi = starts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (starts[mid]! <= offset) lo = mid;
        else hi = mid - 1;
      }
      return lo + 1;
    },
  };
}

/** The first character of a node's content after `pos`: past spaces, line breaks, comments, "---", anchors and tags. */
function contentStart(text: string, pos: number): number {
  let i = pos;
  for (;;) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') i++;
    else if (c === '#') i = nextLine(text, i);
    else if (c === '&' || c === '!') i = propertyEnd(text, i); // an anchor or tag is not the node's content
    else if (c === '-' && text.startsWith('---', i) && (i === 0 || text[i - 1] === '\n') && /[\s]|^$/.test(text[i + 3] ?? '')) i += 3;
    else return i;
  }
}

function propertyEnd(text: string, i: number): number {
  let j = i;
  while (j < text.length && !/\s/.test(text[j]!)) j++;
  return j;
}

function nextLine(text: string, i: number): number {
  const n = text.indexOf('\n', i);
  return n < 0 ? text.length : n + 1;
}

/** The comment lines right above a document's content, without the "#" (helm writes "# Source: ..." there). */
function commentAbove(text: string, content: number): string | undefined {
  const comments: string[] = [];
  let end = text.lastIndexOf('\n', content - 1);
  while (end >= 0) {
    const start = text.lastIndexOf('\n', end - 1) + 1;
    const line = text.slice(start, end).trim();
    if (!line.startsWith('#')) break;
    comments.unshift(line.slice(1));
    end = start - 1;
  }
  return comments.length ? comments.join('\n') : undefined;
}

/** How many values the document holds once aliases are expanded, counting no further than `limit`. */
function expandedSize(value: unknown, limit: number): number {
  const memo = new Map<object, number>();
  const size = (v: unknown): number => {
    if (v === null || typeof v !== 'object') return 1;
    const known = memo.get(v);
    if (known !== undefined) return known;
    memo.set(v, 1); // a cycle (an alias inside its own anchor) counts once
    let total = 1;
    for (const child of Object.values(v)) {
      total += size(child);
      if (total > limit) break;
    }
    memo.set(v, total);
    return total;
  };
  return size(value);
}

/** The plain value at `path`, or undefined where the path does not lead. */
export function valueAt(value: unknown, path: readonly PathKey[]): unknown {
  let v = value;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PathKey, unknown>)[k];
  }
  return v;
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
