// The whole identity chain through the pipe's real entrypoint against the test bed: a Bitbucket
// OIDC token -> the local STS -> EKS tokens signed by the pipe -> kube-apiserver's EKS-style
// webhook, which asks the same STS and maps the role to the least-privileged deployer group.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestbed } from '../support/cluster-global-setup.js';
import { startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js';
import { bitbucketEnv, runPipe } from '../support/pipe.js';
import { startStsServer, type StsServer, type TrustPolicy } from '../support/sts-server.js';
import { getJson, uid } from './helpers/engine.js';
import { Repo, yamlConfigMap } from './helpers/repo.js';

const bed = useTestbed();
const ACCOUNT = '111122223333';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/deployer`;
const id = uid();
const env = `identity-${id}`;
const allowed = bed.deployerNamespaces[0]!;

let issuer: OidcIssuer;
let sts: StsServer;
let build = 500;

const root = (namespace: string) => `apiVersion: app-of-apps/v1
kind: Root
defaults: { createNamespace: false, timeout: 60s }
environments:
  ${env}: {}
apps:
  - name: settings
    path: apps/settings
    namespace: ${namespace}
`;
const repo = new Repo({ 'app-of-apps.yaml': root(allowed), 'apps/settings/settings.yaml': yamlConfigMap(`settings-${id}`, { level: 'info' }) });

function trust(sub: string): TrustPolicy {
  return issuer.trustPolicy({ account: ACCOUNT, sub });
}

const pipe = async (vars: Record<string, string> = {}) =>
  runPipe(
    bitbucketEnv(repo.dir, repo.head(), {
      BITBUCKET_BUILD_NUMBER: String(build++),
      BITBUCKET_DEPLOYMENT_ENVIRONMENT: env,
      AWS_OIDC_ROLE_ARN: ROLE,
      BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }),
      AWS_REGION: 'eu-west-1',
      AWS_ENDPOINT_URL_STS: sts.url,
      CLUSTER_NAME: bed.clusterName,
      CLUSTER_ENDPOINT: bed.server,
      CLUSTER_CA_DATA: bed.caData,
      LEDGER_NAMESPACE: bed.pipeNamespace,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      DEBUG: 'true',
      ...vars,
    }),
    [],
    { timeoutMs: 180_000 },
  );

beforeAll(async () => {
  issuer = await startOidcIssuer();
  sts = await startStsServer({ region: 'eu-west-1' });
  sts.addOidcProvider({ url: issuer.issuer, clientIds: [issuer.audience] });
  sts.addRole({ arn: ROLE, trustPolicy: trust(`${issuer.repositoryUuid}:${issuer.deploymentEnvironmentUuid}:*`) });
  await bed.configureAuthenticator({ stsUrl: sts.url, roleMappings: [{ arn: ROLE, username: 'eks:{{SessionName}}', groups: [bed.deployerGroup] }] });
});
afterAll(async () => {
  await bed.configureAuthenticator({ stsUrl: undefined, roleMappings: [] });
  await sts?.close();
  await issuer?.close();
  repo.remove();
});

describe('Bitbucket OIDC -> STS -> EKS token -> kube-apiserver', () => {
  it('deploys as the mapped role session, with no secret in the DEBUG output', async () => {
    const r = await pipe();
    expect(r.exitCode, r.all).toBe(0);
    const session = `bitbucket-platform-apps-${build - 1}`;
    expect(r.stdout).toContain(`Cluster: EKS cluster ${bed.clusterName} (eu-west-1) as arn:aws:sts::${ACCOUNT}:assumed-role/deployer/${session}`);
    expect((await getJson(bed.adminKubeconfig, ['configmap', '-n', allowed, `settings-${id}`]))?.data).toEqual({ level: 'info' });
    const decisions = await bed.authenticatorDecisions();
    expect(decisions.some((d) => d.authenticated && d.username === `eks:${session}`)).toBe(true);
    expect(sts.requests.filter((q) => q.action === 'GetCallerIdentity' && q.status === 200).length).toBeGreaterThan(0);

    const secrets = sts.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken!]);
    for (const s of secrets) expect(r.all.includes(s), 'an AWS secret was printed').toBe(false);
    expect(r.all).not.toMatch(/k8s-aws-v1\.[A-Za-z0-9_-]{20}/);
    expect(r.all).not.toMatch(/eyJ[A-Za-z0-9_-]{20}/);
  });

  it('the same identity may not write outside its namespaces', async () => {
    repo.commit({ 'app-of-apps.yaml': root('kube-system') });
    const r = await pipe();
    expect(r.exitCode, r.all).toBe(1);
    expect(r.all).toMatch(/forbidden: User "eks:bitbucket-platform-apps-\d+" cannot/);
    expect(await getJson(bed.adminKubeconfig, ['configmap', '-n', 'kube-system', `settings-${id}`])).toBeUndefined();
    repo.commit({ 'app-of-apps.yaml': root(allowed) });
  });

  it('a trust policy for another environment: exit 2, and the printed policy fixes it', async () => {
    sts.setTrustPolicy(ROLE, trust(`${issuer.repositoryUuid}:{00000000-0000-4000-8000-000000000000}:*`));
    const refused = await pipe();
    expect(refused.exitCode, refused.all).toBe(2);
    expect(refused.stderr).toContain('✖ AWS_OIDC_ROLE_ARN: STS refused: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity');
    const printed = /^\{\n[\s\S]*?\n\}$/m.exec(refused.stdout);
    expect(printed, refused.all).not.toBeNull();
    sts.setTrustPolicy(ROLE, JSON.parse(printed![0]) as TrustPolicy);
    const fixed = await pipe();
    expect(fixed.exitCode, fixed.all).toBe(0);
  });
});
