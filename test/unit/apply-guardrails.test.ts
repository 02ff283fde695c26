import { describe, expect, it } from 'vitest';
import { checkGuardrails, guardrailViolations, type Touch } from '../../src/apply/guardrails.js';
import type { Environment } from '../../src/root/model.js';
import { InputError } from '../../src/util/errors.js';

const ns = (app: string, kind: string, namespace: string, name = 'x', group = ''): Touch => ({ app, id: `${kind}/${namespace}/${name}`, kind, group, name, namespace });
const cluster = (app: string, kind: string, name: string, group = ''): Touch => ({ app, id: `${kind}/${name}`, kind, group, name });

describe('guardrails', () => {
  const env: Environment = { name: 'production', allowedNamespaces: ['web', 'team-*'], allowedClusterKinds: ['ClusterRole', 'Widget.example.com'] };

  it('no restriction without allowed lists', () => {
    expect(guardrailViolations([ns('a', 'ConfigMap', 'kube-system'), cluster('a', 'ClusterRoleBinding', 'x')], { name: 'dev' })).toEqual([]);
    expect(guardrailViolations([ns('a', 'ConfigMap', 'kube-system')], undefined)).toEqual([]);
  });

  it('namespaced objects must be in an allowed namespace (globs allowed)', () => {
    expect(guardrailViolations([ns('a', 'ConfigMap', 'web'), ns('a', 'Deployment', 'team-blue')], env)).toEqual([]);
    expect(guardrailViolations([ns('api', 'Deployment', 'kube-system', 'evil')], env)).toEqual([
      'app api: Deployment/kube-system/evil: namespace kube-system is not in allowedNamespaces [web, team-*] of environment production',
    ]);
  });

  it('cluster-scoped kinds must be allowed, by Kind or Kind.group', () => {
    expect(guardrailViolations([cluster('a', 'ClusterRole', 'r'), cluster('a', 'Widget', 'w', 'example.com')], env)).toEqual([]);
    const v = guardrailViolations([cluster('a', 'ClusterRoleBinding', 'crb', 'rbac.authorization.k8s.io'), cluster('a', 'Widget', 'w', 'other.io')], env);
    expect(v).toHaveLength(2);
    expect(v[0]).toContain('cluster-scoped kind ClusterRoleBinding is not in allowedClusterKinds [ClusterRole, Widget.example.com]');
  });

  it('a Namespace object is judged by its name against allowedNamespaces', () => {
    expect(guardrailViolations([cluster('a', 'Namespace', 'web')], env)).toEqual([]);
    expect(guardrailViolations([cluster('a', 'Namespace', 'kube-public')], env)[0]).toContain('namespace kube-public is not in allowedNamespaces');
    // Only cluster kinds restricted: Namespace must be listed as a kind.
    expect(guardrailViolations([cluster('a', 'Namespace', 'any')], { name: 'e', allowedClusterKinds: ['ClusterRole'] })).toHaveLength(1);
    expect(guardrailViolations([cluster('a', 'Namespace', 'any')], { name: 'e', allowedClusterKinds: ['Namespace'] })).toEqual([]);
  });

  it('checkGuardrails refuses with every violation, exit code 2, naming the root file', () => {
    try {
      checkGuardrails([ns('a', 'ConfigMap', 'kube-system'), ns('b', 'Secret', 'default')], env, 'app-of-apps.yaml');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(InputError);
      const e = err as InputError;
      expect(e.exitCode).toBe(2);
      expect(e.message).toContain('2 objects are outside what environment production allows; nothing was applied');
      expect(e.details).toHaveLength(2);
      expect(e.where?.file).toBe('app-of-apps.yaml');
    }
    expect(() => checkGuardrails([ns('a', 'ConfigMap', 'web')], env, 'x')).not.toThrow();
  });
});
