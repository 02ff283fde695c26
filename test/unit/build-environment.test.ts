import { describe, expect, it } from 'vitest';
import { expand, variablesIn } from '../../src/root/build-environment.js';

// What Go's os.Expand gives for each text with Argo CD's mapping ("$" -> "$", a missing name -> ""),
// A=x, B_1=y, ARGOCD_APP_NAME=web: printed by a Go 1.24 program, not derived from the code under test.
const GO = [
  ['plain', 'plain'],
  ['$A', 'x'],
  ['${A}', 'x'],
  ['$A$B_1', 'xy'],
  ['pa$$word', 'pa$word'],
  ['a$HOME-b', 'a-b'],
  ['end$', 'end$'],
  ['${}', ''],
  ['${A', 'A'],
  ['x${}y', 'xy'],
  ['$-', ''],
  ['$1x', 'x'],
  ['${$}', '$'],
  ['$ space', '$ space'],
  ['${A:-d}', ''],
  ['$A.$ARGOCD_APP_NAME', 'x.web'],
  ['$$A', '$A'],
  ['$$$A', '$x'],
  ['${ARGOCD_APP_NAME}x', 'webx'],
  ['$é', '$é'],
  ['a$', 'a$'],
  ['$@', ''],
] as const;

describe("Argo CD's Envsubst", () => {
  it("substitutes as Go's os.Expand does with Argo CD's mapping", () => {
    const values: Record<string, string> = { A: 'x', B_1: 'y', ARGOCD_APP_NAME: 'web' };
    expect(GO.map(([text]) => [text, expand(text, (n) => values[n] ?? '')])).toEqual(GO.map(([text, want]) => [text, want]));
  });

  it('names the variables a text uses, and no variable for "$$"', () => {
    expect(variablesIn('$A-${B}-pa$$word-$')).toEqual(['A', 'B']);
    expect(variablesIn('registry/web:${ARGOCD_APP_REVISION_SHORT}')).toEqual(['ARGOCD_APP_REVISION_SHORT']);
  });
});
