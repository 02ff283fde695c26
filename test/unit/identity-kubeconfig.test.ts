import { existsSync, readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readUserKubeconfig, userSecrets } from '../../src/identity/kubeconfig.js';
import { normalizeCaData } from '../../src/identity/eks-cluster.js';
import { PrivateDir } from '../../src/util/private-dir.js';
import { mask } from '../../src/report/mask.js';
import { InputError } from '../../src/util/errors.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUExample\n-----END CERTIFICATE-----\n';
const CA = Buffer.from(PEM).toString('base64');
const KEY = Buffer.from('-----BEGIN PRIVATE KEY-----\nprivate-key-data\n-----END PRIVATE KEY-----\n').toString('base64');

const userConfig = {
  apiVersion: 'v1',
  kind: 'Config',
  clusters: [
    { name: 'dev', cluster: { server: 'https://dev.example:6443', 'certificate-authority-data': CA } },
    { name: 'prod', cluster: { server: 'https://prod.example:6443' } },
  ],
  users: [
    { name: 'dev-admin', user: { token: 'dev-static-bearer-token-123' } },
    { name: 'prod-admin', user: { 'client-certificate-data': CA, 'client-key-data': KEY } },
  ],
  contexts: [
    { name: 'dev', context: { cluster: 'dev', user: 'dev-admin' } },
    { name: 'prod', context: { cluster: 'prod', user: 'prod-admin' } },
  ],
  'current-context': 'dev',
};
const encoded = Buffer.from(JSON.stringify(userConfig)).toString('base64');

function inputError(fn: () => unknown): InputError {
  try {
    fn();
  } catch (err) {
    if (err instanceof InputError) return err;
    throw err;
  }
  throw new Error('expected an InputError');
}

describe('readUserKubeconfig', () => {
  it('uses the current context and its static token; registers the secrets in it', () => {
    const kc = readUserKubeconfig(encoded);
    expect(kc).toMatchObject({ context: 'dev', cluster: 'dev', server: 'https://dev.example:6443', caData: CA, token: 'dev-static-bearer-token-123' });
    expect(mask(`dev-static-bearer-token-123 ${KEY}`)).toBe('**** ****');
  });

  it('switches to KUBE_CONTEXT; a client-cert user has no bearer token', () => {
    const kc = readUserKubeconfig(encoded, 'prod');
    expect(kc).toMatchObject({ context: 'prod', server: 'https://prod.example:6443', token: undefined });
    expect(parse(kc.text)['current-context']).toBe('prod');
  });

  it('names KUBE_CONTEXT and lists the contexts when the context does not exist', () => {
    const err = inputError(() => readUserKubeconfig(encoded, 'staging'));
    expect(err.where?.variable).toBe('KUBE_CONTEXT');
    expect(err.message).toBe('has no context "staging"');
    expect(err.hint).toBe('use one of: dev, prod');
  });

  it("a context whose user is not in the kubeconfig is bad input, not an anonymous run that blames RBAC", () => {
    const config = { ...userConfig, contexts: [...userConfig.contexts, { name: 'other', context: { cluster: 'dev', user: 'nobody' } }] };
    const err = inputError(() => readUserKubeconfig(Buffer.from(JSON.stringify(config)).toString('base64'), 'other'));
    expect(err.where?.variable).toBe('KUBE_CONFIG');
    expect(err.message).toBe('context "other" names user "nobody", which is not in the kubeconfig');
  });

  it('a cluster with proxy-url is refused, naming it: the pipe would not go through the proxy', () => {
    const config = { ...userConfig, clusters: [{ name: 'dev', cluster: { server: 'https://dev.internal:6443', 'proxy-url': 'http://127.0.0.1:3128' } }, userConfig.clusters[1]] };
    let thrown: unknown;
    try {
      readUserKubeconfig(Buffer.from(JSON.stringify(config)).toString('base64'));
    } catch (err) {
      thrown = err;
    }
    const errors = (thrown as { errors?: InputError[] }).errors ?? [thrown as InputError];
    expect(errors.map((e) => [e.where?.variable, e.message])).toEqual([['KUBE_CONFIG', 'cluster "dev": proxy-url is not supported: the pipe connects to the API server directly']]);
  });

  it('names KUBE_CONFIG when it is not a kubeconfig', () => {
    expect(inputError(() => readUserKubeconfig(Buffer.from('just: text').toString('base64'))).where?.variable).toBe('KUBE_CONFIG');
    expect(inputError(() => readUserKubeconfig(Buffer.from('a: [b').toString('base64'))).message).toBe('does not decode to YAML');
  });
});

describe('userSecrets', () => {
  it("finds a credential plugin's secret args and env values and an auth-provider's secrets, not its plain env values or args", () => {
    const user = {
      'auth-provider': { name: 'oidc', config: { 'client-id': 'kubernetes', 'client-secret': 'oidc-client-secret', 'id-token': 'oidc-id-token', 'idp-issuer-url': 'https://issuer.example' } },
      exec: {
        command: 'plugin',
        args: ['get-token', '--cluster-name', 'prod', '--client-secret', 'arg-secret-1', '--api-key=arg-secret-2', '--token', '--verbose', '--token-cache-dir', '/home/runner/.kube/cache', '--client-key-file=/etc/keys/client.pem', '--role-session-name', 'bitbucket'],
        env: [
          { name: 'PLUGIN_SECRET', value: 'env-secret-1' },
          { name: 'VAULT_ADDR', value: 'https://vault.example' },
          { name: 'AWS_PROFILE', value: 'default' },
          { name: 'AWS_REGION', value: 'eu-west-1' },
          { name: 'FEATURE', value: 'true' },
          { name: 'KUBE_NAMESPACE', value: 'default' },
          { name: 'AWS_SECRET_ACCESS_KEY', value: 'env-secret-2' },
          // where a secret is, not the secret: a path masked would hide it in every line
          { name: 'AWS_SHARED_CREDENTIALS_FILE', value: '/home/runner/.aws/credentials' },
          { name: 'AWS_SESSION_TOKEN', value: 'env-secret-3' },
          // a URL may carry a token in its query: it stays a secret
          { name: 'TOKEN_URL', value: 'https://idp.example/x?token=env-secret-4' },
        ],
      },
    };
    // a namespace, a region or "true" masked would hide names in every line and break the JSON report
    expect(userSecrets(user).sort()).toEqual(['arg-secret-1', 'arg-secret-2', 'env-secret-1', 'env-secret-2', 'env-secret-3', 'https://idp.example/x?token=env-secret-4', 'oidc-client-secret', 'oidc-id-token']);
  });

  it('are masked once KUBE_CONFIG is read', () => {
    const config = { ...userConfig, users: [{ name: 'dev-admin', user: { exec: { command: 'p', args: ['--password', 'exec-arg-password-1'], env: [{ name: 'API_TOKEN', value: 'exec-env-value-1' }, { name: 'MODE', value: 'default' }] } } }] };
    readUserKubeconfig(Buffer.from(JSON.stringify(config)).toString('base64'));
    expect(mask('exec-arg-password-1 exec-env-value-1 prod default')).toBe('**** **** prod default');
  });
});

describe('normalizeCaData', () => {
  it('accepts base64 PEM, or PEM pasted as-is, and refuses anything else naming the variable', () => {
    expect(Buffer.from(normalizeCaData(CA), 'base64').toString()).toBe(PEM);
    expect(normalizeCaData(PEM.trim())).toBe(CA);
    expect(inputError(() => normalizeCaData('bm90IGEgY2VydA==')).where?.variable).toBe('CLUSTER_CA_DATA');
  });
});

describe('PrivateDir', () => {
  it('is 0700 with 0600 files, and is gone after remove()', () => {
    const dir = PrivateDir.create();
    const file = dir.write('kubeconfig', 'x');
    expect(statSync(dir.path).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe('x');
    dir.remove();
    expect(existsSync(dir.path)).toBe(false);
  });
});
