local params = import 'params.libsonnet';
{
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'reports' },
  data: { schedule: params.schedule },
}
