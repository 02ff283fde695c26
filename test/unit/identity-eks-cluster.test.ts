// What DescribeCluster's refusals say, against a local HTTP server answering as EKS does.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeCluster, type DescribeSettings } from '../../src/identity/eks-cluster.js';
import { createLogger } from '../../src/report/logger.js';
import { PipeError } from '../../src/util/errors.js';

let server: Server;
let endpoint: string;
let answer: { type: string; message: string } = { type: '', message: '' };
beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    res.writeHead(403, { 'content-type': 'application/json', 'x-amzn-errortype': answer.type });
    res.end(JSON.stringify({ message: answer.message }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const refusal = async (type: string, message: string, from: Partial<DescribeSettings> = {}): Promise<PipeError> => {
  answer = { type, message };
  const err = await describeCluster({
    ...from,
    name: 'prod',
    region: 'eu-south-2',
    endpoint,
    credentials: { accessKeyId: 'AKIAEXAMPLEEXAMPLE00', secretAccessKey: 'secret', sessionToken: 'session' },
    callerArn: 'arn:aws:sts::111122223333:assumed-role/deploy/bitbucket',
    logger: createLogger({ debug: false, out: () => undefined }),
  }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(PipeError);
  return err as PipeError;
};

describe('DescribeCluster refusals', () => {
  it('no such cluster: names CLUSTER_NAME, or the root manifest field the name came from', async () => {
    const byVariable = await refusal('ResourceNotFoundException', 'No cluster found for name: prod.');
    expect(byVariable.located).toBe('CLUSTER_NAME: no EKS cluster "prod" in eu-south-2');
    expect(byVariable.hint).toBe('check CLUSTER_NAME and AWS_REGION (`aws eks list-clusters --region eu-south-2`)');
    const root = (field: string) => ({ file: 'app-of-apps.yaml', field: `environments.prod.cluster.${field}` });
    const byRoot = await refusal('ResourceNotFoundException', 'No cluster found for name: prod.', { nameFrom: root('name'), regionFrom: root('region') });
    expect(byRoot.located).toBe('app-of-apps.yaml: environments.prod.cluster.name: no EKS cluster "prod" in eu-south-2');
    expect(byRoot.hint).toBe('check environments.prod.cluster.name in app-of-apps.yaml and environments.prod.cluster.region in app-of-apps.yaml (`aws eks list-clusters --region eu-south-2`)');
    expect(byRoot.exitCode).toBe(2);
  });

  it('credentials EKS does not recognize: the region and the keys to check, not a permission to add', async () => {
    const err = await refusal('UnrecognizedClientException', 'The security token included in the request is invalid.');
    expect(err.message).toBe('EKS in eu-south-2 does not recognize the credentials of arn:aws:sts::111122223333:assumed-role/deploy/bitbucket: The security token included in the request is invalid.');
    expect(err.hint).toContain('enabled for the account');
    expect(err.hint).not.toContain('eks:DescribeCluster');
  });

  it('a role that may not describe the cluster: the permission to grant, on the cluster ARN', async () => {
    const err = await refusal('AccessDeniedException', 'User is not authorized to perform: eks:DescribeCluster');
    expect(err.message).toContain('may not describe EKS cluster prod');
    expect(err.hint).toContain('allow eks:DescribeCluster on arn:aws:eks:eu-south-2:111122223333:cluster/prod');
  });
});
