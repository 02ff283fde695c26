import picomatch from 'picomatch';
import type { Environment } from '../root/model.js';
import { InputError } from '../util/errors.js';

/** What the guardrails need to know about one object an app will write. */
export interface Touch {
  app: string;
  id: string;
  kind: string;
  group: string;
  name: string;
  /** Set for namespaced objects (after defaulting to the app's namespace). */
  namespace?: string;
}

/**
 * Every object of every app is checked against the environment's allowedNamespaces and
 * allowedClusterKinds before anything is applied. Returns one line per violation.
 * Namespaces are a cluster-scoped kind, but creating one named in allowedNamespaces is allowed.
 */
export function guardrailViolations(touches: Touch[], env: Environment | undefined): string[] {
  if (!env || (env.allowedNamespaces === undefined && env.allowedClusterKinds === undefined)) return [];
  const nsAllowed = env.allowedNamespaces && picomatch(env.allowedNamespaces);
  const kinds = env.allowedClusterKinds;
  const kindAllowed = (t: Touch) => !kinds || kinds.includes(t.kind) || (t.group !== '' && kinds.includes(`${t.kind}.${t.group}`));
  const nsList = `allowedNamespaces [${(env.allowedNamespaces ?? []).join(', ')}]`;
  const kindList = `allowedClusterKinds [${(kinds ?? []).join(', ')}]`;
  const out: string[] = [];
  for (const t of touches) {
    const where = `app ${t.app}: ${t.id}`;
    if (t.namespace !== undefined) {
      if (nsAllowed && !nsAllowed(t.namespace)) out.push(`${where}: namespace ${t.namespace} is not in ${nsList} of environment ${env.name}`);
    } else if (t.kind === 'Namespace' && t.group === '') {
      if (nsAllowed ? !nsAllowed(t.name) : !kindAllowed(t)) {
        out.push(`${where}: namespace ${t.name} is not in ${nsAllowed ? nsList : kindList} of environment ${env.name}`);
      }
    } else if (!kindAllowed(t)) {
      out.push(`${where}: cluster-scoped kind ${t.kind} is not in ${kindList} of environment ${env.name}`);
    }
  }
  return out;
}

export function checkGuardrails(touches: Touch[], env: Environment | undefined, rootFile: string): void {
  const violations = guardrailViolations(touches, env);
  if (!violations.length) return;
  throw new InputError(
    `${violations.length === 1 ? 'an object is' : `${violations.length} objects are`} outside what environment ${env!.name} allows; nothing was applied`,
    {
      where: { file: rootFile },
      details: violations,
      hint: `move the objects into an allowed namespace, or widen allowedNamespaces / allowedClusterKinds of environment ${env!.name} in the root manifest`,
    },
  );
}
