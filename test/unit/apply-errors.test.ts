import { describe, expect, it } from 'vitest';
import { KubeApiError } from '../../src/apply/client.js';
import { appError, clusterError, logAppError, objectError, withoutDumpedValues } from '../../src/apply/errors.js';
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

// What kube-apiserver v1.33 answers for a changed Job template (captured from the test bed): the
// rejected value is a Go dump of the whole pod template, in the cause and again in the message.
const JOB_TEMPLATE_CAUSE = "Invalid value: core.PodTemplateSpec{ObjectMeta:v1.ObjectMeta{Name:\"\", GenerateName:\"\", Namespace:\"\", SelfLink:\"\", UID:\"\", ResourceVersion:\"\", Generation:0, CreationTimestamp:time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC), DeletionTimestamp:<nil>, DeletionGracePeriodSeconds:(*int64)(nil), Labels:map[string]string{\"batch.kubernetes.io/controller-uid\":\"3b66346b-eca1-402c-a225-2a19f03f63d7\", \"batch.kubernetes.io/job-name\":\"once\", \"controller-uid\":\"3b66346b-eca1-402c-a225-2a19f03f63d7\", \"job-name\":\"once\"}, Annotations:map[string]string(nil), OwnerReferences:[]v1.OwnerReference(nil), Finalizers:[]string(nil), ManagedFields:[]v1.ManagedFieldsEntry(nil)}, Spec:core.PodSpec{Volumes:[]core.Volume(nil), InitContainers:[]core.Container(nil), Containers:[]core.Container{core.Container{Name:\"c\", Image:\"job:2\", Command:[]string(nil), Args:[]string(nil), WorkingDir:\"\", Ports:[]core.ContainerPort(nil), EnvFrom:[]core.EnvFromSource(nil), Env:[]core.EnvVar(nil), Resources:core.ResourceRequirements{Limits:core.ResourceList(nil), Requests:core.ResourceList(nil), Claims:[]core.ResourceClaim(nil)}, ResizePolicy:[]core.ContainerResizePolicy(nil), RestartPolicy:(*core.ContainerRestartPolicy)(nil), VolumeMounts:[]core.VolumeMount(nil), VolumeDevices:[]core.VolumeDevice(nil), LivenessProbe:(*core.Probe)(nil), ReadinessProbe:(*core.Probe)(nil), StartupProbe:(*core.Probe)(nil), Lifecycle:(*core.Lifecycle)(nil), TerminationMessagePath:\"/dev/termination-log\", TerminationMessagePolicy:\"File\", ImagePullPolicy:\"IfNotPresent\", SecurityContext:(*core.SecurityContext)(nil), Stdin:false, StdinOnce:false, TTY:false}}, EphemeralContainers:[]core.EphemeralContainer(nil), RestartPolicy:\"Never\", TerminationGracePeriodSeconds:(*int64)(0x6a5e9272c08), ActiveDeadlineSeconds:(*int64)(nil), DNSPolicy:\"ClusterFirst\", NodeSelector:map[string]string(nil), ServiceAccountName:\"\", AutomountServiceAccountToken:(*bool)(nil), NodeName:\"\", SecurityContext:(*core.PodSecurityContext)(0x6a5e84cfb80), ImagePullSecrets:[]core.LocalObjectReference(nil), Hostname:\"\", Subdomain:\"\", SetHostnameAsFQDN:(*bool)(nil), Affinity:(*core.Affinity)(nil), SchedulerName:\"default-scheduler\", Tolerations:[]core.Toleration(nil), HostAliases:[]core.HostAlias(nil), PriorityClassName:\"\", Priority:(*int32)(nil), PreemptionPolicy:(*core.PreemptionPolicy)(nil), DNSConfig:(*core.PodDNSConfig)(nil), ReadinessGates:[]core.PodReadinessGate(nil), RuntimeClassName:(*string)(nil), Overhead:core.ResourceList(nil), EnableServiceLinks:(*bool)(nil), TopologySpreadConstraints:[]core.TopologySpreadConstraint(nil), OS:(*core.PodOS)(nil), SchedulingGates:[]core.PodSchedulingGate(nil), ResourceClaims:[]core.PodResourceClaim(nil), Resources:(*core.ResourceRequirements)(nil)}}: field is immutable";

describe('invalid objects', () => {
  it('an immutable field: the field and the reason, once, without the dumped value, and what to do', () => {
    const e = objectError('Job/s5/once', 'server-side apply', api(422, {
      reason: 'Invalid',
      message: `Job.batch "once" is invalid: spec.template: ${JOB_TEMPLATE_CAUSE}`,
      details: { name: 'once', kind: 'Job', causes: [{ reason: 'FieldValueInvalid', message: JOB_TEMPLATE_CAUSE, field: 'spec.template' }] },
    }));
    expect(JOB_TEMPLATE_CAUSE.length).toBeGreaterThan(2000);
    expect(e.message).toBe('Job/s5/once: server-side apply rejected as invalid: spec.template: field is immutable');
    expect(e.details).toEqual([]);
    expect(e.hint).toBe('spec.template cannot change on a live object: revert the change, or delete the object so the next deploy re-creates it (or give it a new name, a Job per version, say)');
    const report = JSON.stringify(appError(e));
    expect(report).not.toContain('PodTemplateSpec');
    expect(report.length).toBeLessThan(400);
  });

  it('keeps a short rejected value, and lists several causes once each', () => {
    const service = objectError('Service/s5/web', 'server-side apply', api(422, {
      message: 'Service "web" is invalid: spec.clusterIPs[0]: Invalid value: []string{"10.96.7.124"}: may not change once set',
      details: { causes: [{ reason: 'FieldValueInvalid', message: 'Invalid value: []string{"10.96.7.124"}: may not change once set', field: 'spec.clusterIPs[0]' }] },
    }));
    expect(service.message).toBe('Service/s5/web: server-side apply rejected as invalid: spec.clusterIPs[0]: Invalid value: []string{"10.96.7.124"}: may not change once set');
    expect(service.details).toEqual([]);
    expect(service.hint).toMatch(/^spec\.clusterIPs\[0\] cannot change on a live object/);

    const selector = 'v1.LabelSelector{MatchLabels:map[string]string{"app":"web2", "tier":"frontend: public"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}';
    const two = objectError('Deployment/s5/web', 'server-side apply', api(422, {
      message: `Deployment.apps "web" is invalid: [spec.selector: Invalid value: ${selector}: field is immutable, spec.replicas: Invalid value: -1: must be greater than or equal to 0]`,
      details: { causes: [
        { reason: 'FieldValueInvalid', message: `Invalid value: ${selector}: field is immutable`, field: 'spec.selector' },
        { reason: 'FieldValueInvalid', message: 'Invalid value: -1: must be greater than or equal to 0', field: 'spec.replicas' },
      ] },
    }));
    expect(two.message).toBe('Deployment/s5/web: server-side apply rejected as invalid: spec.selector: field is immutable (and 1 more)');
    expect(two.details).toEqual(['spec.selector: field is immutable', 'spec.replicas: Invalid value: -1: must be greater than or equal to 0']);
    expect(two.hint).toMatch(/^spec\.selector, spec\.replicas cannot change/);
  });

  it('without causes, the message itself loses the dumped value', () => {
    const e = objectError('Job/s5/once', 'server-side apply', api(422, { message: `Job.batch "once" is invalid: spec.template: ${JOB_TEMPLATE_CAUSE}` }));
    expect(e.message).toBe('Job/s5/once: server-side apply rejected as invalid: Job.batch "once" is invalid: spec.template: field is immutable');
    expect(withoutDumpedValues('metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of ... (e.g. \'example.com\')')).toBe(
      'metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of ... (e.g. \'example.com\')',
    );
    expect(withoutDumpedValues(`a: Invalid value: "${'x'.repeat(100)}: y": too long`)).toBe('a: too long');
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
