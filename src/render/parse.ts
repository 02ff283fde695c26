import { isMap, isSeq, LineCounter, parseAllDocuments, type Document, type Node, type Tags } from 'yaml';
import { InputError, type Location } from '../util/errors.js';

/** One object as read from a file or a tool's output, before validation. */
export interface Sourced {
  value: Record<string, unknown>;
  /** Where it came from, for messages: file (and line) or the tool's template path. */
  where: Location;
}

export interface ParsedFile {
  objects: Sourced[];
  /** With skipNonManifests: the file had documents, none of them Kubernetes-looking, so it was skipped. */
  skipped: boolean;
}

/**
 * YAML 1.1 like kubectl and Argo CD (go-yaml): yes/no/on/off are booleans and 0644 is octal
 * (defaultMode: 0644 must mean 420). Timestamps and sexagesimal numbers stay strings, as they
 * do when Kubernetes converts YAML to JSON.
 */
const customTags = (tags: Tags): Tags =>
  tags.filter((t) => !(typeof t === 'object' && (t.tag === 'tag:yaml.org,2002:timestamp' || ('format' in t && t.format === 'TIME'))));

const MAX_ALIASES = 100;

/**
 * Parses multi-document YAML (JSON is YAML too) into objects: empty documents are skipped and
 * `kind: List` (or any *List with items) is flattened. Errors name the file and line.
 * `source` is how tool output names its template ("# Source: chart/templates/x.yaml").
 */
export function parseManifests(
  text: string,
  file: string,
  opts: { sourceComments?: (source: string) => string; skipNonManifests?: boolean } = {},
): ParsedFile {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { version: '1.1', customTags, lineCounter, uniqueKeys: true });
  const values: { value: unknown; node: Node | null; where: Location }[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    const where = docWhere(doc, file, lineCounter, opts.sourceComments);
    const err = doc.errors[0];
    if (err) {
      const [pos] = err.linePos ?? [];
      const frame = err.message.split('\n').slice(1).filter((l) => l.trim());
      throw new InputError(`invalid YAML: ${err.message.split(' at line ')[0]}`, {
        where: opts.sourceComments ? where : { file, line: pos?.line, column: pos?.col },
        details: opts.sourceComments ? [] : frame,
        hint: 'fix the YAML syntax (indentation, quoting) at that line',
      });
    }
    if (doc.contents === null) continue;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (e) {
      throw new InputError(`YAML aliases expand too much (${(e as Error).message})`, {
        where,
        hint: `use at most ${MAX_ALIASES} alias expansions per document`,
      });
    }
    if (value === null || value === undefined) continue;
    values.push({ value, node: doc.contents, where });
  }
  // Argo CD ignores a YAML file that does not look like Kubernetes objects at all (a config file)
  const looksLikeManifests = values.some(({ value: v }) => isObject(v) && ('apiVersion' in v || 'kind' in v || 'metadata' in v));
  if (opts.skipNonManifests && values.length && !looksLikeManifests) return { objects: [], skipped: true };
  const out: Sourced[] = [];
  for (const v of values) flatten(v.value, v.node, v.where, lineCounter, out);
  return { objects: out, skipped: false };
}

function flatten(value: unknown, node: Node | null, where: Location, lines: LineCounter, out: Sourced[]): void {
  if (!isObject(value)) {
    throw new InputError(`expected a Kubernetes object (a mapping with apiVersion, kind, metadata), found ${describe(value)}`, {
      where,
      hint: 'every YAML document must be one Kubernetes object; remove or fix this document',
    });
  }
  const items = value.items;
  if (typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(items)) {
    const itemNodes = isMap(node) ? node.get('items', true) : undefined;
    items.forEach((item, i) => {
      const itemNode = isSeq(itemNodes) ? (itemNodes.items[i] as Node | undefined) : undefined;
      const line = itemNode?.range ? lines.linePos(itemNode.range[0]).line : where.line;
      flatten(item, itemNode ?? null, { ...where, line }, lines, out);
    });
    return;
  }
  out.push({ value, where });
}

function docWhere(doc: Document.Parsed, file: string, lines: LineCounter, sourceComments?: (source: string) => string): Location {
  if (sourceComments) {
    const comment = `${doc.commentBefore ?? ''}\n${doc.contents?.commentBefore ?? ''}`;
    const source = /^\s*Source:\s*(\S+)/m.exec(comment)?.[1];
    return { file: source ? sourceComments(source) : file };
  }
  const start = doc.contents?.range?.[0] ?? doc.range[0];
  return { file, line: lines.linePos(start).line };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `the text "${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  return `a ${typeof v}`;
}
