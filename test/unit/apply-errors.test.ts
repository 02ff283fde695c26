import { describe, expect, it } from 'vitest';
import { KubeApiError } from '../../src/apply/client.js';
import { appError, clusterError, logAppError, objectError } from '../../src/apply/errors.js';
import { createLogger } from '../../src/report/logger.js';
import { PipeError } from '../../src/util/errors.js';

const api = (status: number, body: ConstructorParameters<typeof KubeApiError>[3]) => new KubeApiError('PATCH', '/api/v1/namespaces/web/configmaps/cfg', status, body);

describe('object errors', () => {
  it('a field-manager conflict names the managers and every field, and the opt-in', () => {
    const e = objectError('ConfigMap/web/cfg', 'server-side apply', api(409, {
      reason: 'Conflict',
      message: 'Apply failed with 2 conflicts',
      details: { causes: [
        { reason: 'FieldManagerConflict', message: 'conflict with "kubectl-edit" using v1', field: '.data.a' },
        { reason: 'FieldManagerConflict', message: 'conflict with "helm" using v1', field: '.data.b' },
      ] },
    }));
    expect(e.message).toBe('ConfigMap/web/cfg: field manager conflict: 2 field(s) are managed by "kubectl-edit", "helm"');
    expect(e.details).toEqual(['.data.a: conflict with "kubectl-edit" using v1', '.data.b: conflict with "helm" using v1']);
    expect(e.hint).toContain('FORCE_CONFLICTS=true');
    expect(e.exitCode).toBe(1);
  });

  it('invalid, immutable, forbidden and missing namespace each get their own advice', () => {
    expect(objectError('Job/web/migrate', 'server-side apply', api(422, { message: 'Job.batch "migrate" is invalid: spec.template: Invalid value: ...: field is immutable' })).hint).toContain('new name');
    expect(objectError('ConfigMap/web/cfg', 'server-side apply', api(422, { message: 'ConfigMap "cfg" is invalid: data: bad' })).hint).toBe('fix the manifest');
    const forbidden = objectError('ConfigMap/kube-system/x', 'server-side apply', api(403, { message: 'configmaps "x" is forbidden: User "deployer" cannot patch resource "configmaps" in the namespace "kube-system"' }));
    expect(forbidden.message).toMatch(/^ConfigMap\/kube-system\/x: server-side apply forbidden: .*cannot patch/);
    expect(forbidden.hint).toContain('RBAC');
    expect(objectError('ConfigMap/nope/x', 'server-side apply', api(404, { message: 'namespaces "nope" not found' })).hint).toContain('createNamespace');
  });
});

describe('cluster errors', () => {
  it('unreachable, 401 and 403 become errors that say what to do; other errors pass through', () => {
    const down = clusterError(new KubeApiError('GET', '/api/v1/namespaces/x/configmaps/y', 0, { message: 'connect ECONNREFUSED 127.0.0.1:1' }), 'https://127.0.0.1:1');
    expect(down).toBeInstanceOf(PipeError);
    expect((down as PipeError).message).toBe('cannot reach the Kubernetes API server at https://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1');
    expect((clusterError(api(401, { message: 'Unauthorized' }), 's') as PipeError).hint).toContain('access entry');
    expect((clusterError(api(403, { message: 'no' }), 's') as PipeError).message).toBe('PATCH /api/v1/namespaces/web/configmaps/cfg is forbidden: no');
    const other = new Error('boom');
    expect(clusterError(other, 's')).toBe(other);
  });
});

describe("an app's failure, as deploy, diff and removed-app pruning report it", () => {
  it('keeps the details and the hint of the error, and logs them with what to do', () => {
    const conflict = objectError('ConfigMap/web/cfg', 'server-side apply', api(409, {
      reason: 'Conflict',
      message: 'Apply failed with 1 conflict',
      details: { causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "kubectl-edit"', field: '.data.a' }] },
    }));
    const error = appError(conflict);
    expect(error).toEqual({ message: conflict.message, details: ['.data.a: conflict with "kubectl-edit"'], hint: conflict.hint });
    const lines: string[] = [];
    logAppError(createLogger({ debug: false, out: (l) => lines.push(l), err: (l) => lines.push(l) }), `web: could not diff: ${error.message}`, error);
    expect(lines.join('\n')).toContain('.data.a: conflict with "kubectl-edit"');
    expect(lines.join('\n')).toContain(`What to do: ${conflict.hint}`);
    expect(appError(new Error('socket hang up'))).toEqual({ message: 'socket hang up', details: [], hint: undefined });
  });
});
