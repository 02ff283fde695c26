// What DescribeCluster's refusals say, against a local HTTP server answering as EKS does.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeCluster } from '../../src/identity/eks-cluster.js';
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

const refusal = async (type: string, message: string): Promise<PipeError> => {
  answer = { type, message };
  const err = await describeCluster({
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
