// Cross-check against an STS and EKS nobody here wrote: moto 5 (`moto_server`) answers the pipe's
// AssumeRoleWithWebIdentity and DescribeCluster over HTTP, exactly as the pipe sends them.
import { execa, type ResultPromise } from 'execa';
import { freePort } from '../testbed/processes.js';
import { CreateClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { establishAccess } from '../../src/identity/index.js';
import { memoryLogger } from '../../src/report/logger.js';
import { InputError } from '../../src/util/errors.js';
import { startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js';

let moto: ResultPromise | undefined;
let motoUrl = '';
let issuer: OidcIssuer;
let clusterEndpoint: string | undefined;

beforeAll(async () => {
  issuer = await startOidcIssuer();
  const port = await freePort();
  motoUrl = `http://127.0.0.1:${port}`;
  moto = execa('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { reject: false });
  for (let i = 0; i < 100; i++) {
    if (await fetch(`${motoUrl}/moto-api/`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const eks = new EKSClient({ region: 'eu-west-1', endpoint: motoUrl, credentials: { accessKeyId: 'AKIAMOTOSETUP', secretAccessKey: 'setup' } });
  const created = await eks.send(
    new CreateClusterCommand({ name: 'prod', roleArn: 'arn:aws:iam::123456789012:role/eks', resourcesVpcConfig: { subnetIds: ['subnet-1'] } }),
  );
  clusterEndpoint = created.cluster?.endpoint;
}, 60_000);

afterAll(async () => {
  moto?.kill('SIGTERM');
  await moto;
  await issuer?.close();
});

function config(extra: Record<string, string>) {
  return loadConfig({
    MODE: 'deploy',
    AWS_REGION: 'eu-west-1',
    AWS_ENDPOINT_URL: motoUrl,
    AWS_OIDC_ROLE_ARN: 'arn:aws:iam::123456789012:role/deploy',
    BITBUCKET_REPO_SLUG: 'platform-apps',
    BITBUCKET_BUILD_NUMBER: '7',
    ...extra,
  });
}

describe('moto_server as STS and EKS', () => {
  it('accepts the pipe AssumeRoleWithWebIdentity and DescribeCluster requests', async () => {
    const logger = memoryLogger(true);
    const access = await establishAccess(config({ CLUSTER_NAME: 'prod', BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }) }), logger);
    try {
      expect(access.describe).toBe('EKS cluster prod (eu-west-1) as arn:aws:sts::123456789012:assumed-role/deploy/bitbucket-platform-apps-7');
      expect(clusterEndpoint).toMatch(/^https:\/\//);
      expect(access.server).toBe(clusterEndpoint);
      expect(access.caData).toMatch(/^[A-Za-z0-9+/=]+$/);
      expect(await access.bearerToken()).toMatch(/^k8s-aws-v1\.[A-Za-z0-9_-]+$/);
    } finally {
      await access.dispose();
    }
  });

  it('names CLUSTER_NAME when EKS has no such cluster', async () => {
    const logger = memoryLogger(true);
    const err = await establishAccess(config({ CLUSTER_NAME: 'nope', BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint() }), logger).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).located).toBe('CLUSTER_NAME: no EKS cluster "nope" in eu-west-1');
  });
});
