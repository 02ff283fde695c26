// The log's tables: the plan, the deploy summary, the diff summary.

/** Text columns left-aligned, number and duration columns right-aligned. */
export function table(header: string[], given: string[][]): string {
  // a file name may hold a newline or a tab: one row stays one line
  const rows = given.map((r) => r.map(oneLine));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => /^(\d+(\.\d+)?s?|\d+m\d+s|)$/.test(r[i] ?? '')));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** Control characters (a newline in a file name, say) written as escapes. */
function oneLine(cell: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(cell) ? cell.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)) : cell;
}
