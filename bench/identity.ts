/**
 * Credential exchange (Bitbucket OIDC token -> STS AssumeRoleWithWebIdentity) plus an EKS token:
 * the pipe's code versus the AWS CLI doing the same, against the same local STS, in one run.
 *
 *   aws CLI      `aws sts assume-role-with-web-identity` + `aws eks get-token` (two processes)
 *   pipe, proc   `node --snapshot-blob dist/pipe.blob dist/main.js eks-token` with AWS_OIDC_ROLE_ARN +
 *                BITBUCKET_STEP_OIDC_TOKEN (one process: exchange + token; built by scripts/bundle.mjs --snapshot)
 *   pipe, in     obtainAwsIdentity + makeEksToken in this process (what a pipe run does)
 * and, for each kubectl invocation during a deploy, the token alone:
 *   aws CLI      `aws eks get-token` with the credentials in the environment
 *   pipe, proc   `node --snapshot-blob dist/pipe.blob dist/main.js eks-token --credentials-file F`
 *                (the credential plugin in a user's kubeconfig, started as the image starts it)
 *
 * `node -e 0` is timed too: the share of a process run that is Node.js starting, not pipe code.
 * Every token produced is checked by the local STS verifier (outside the timings).
 * Usage: npx tsx bench/identity.ts [iterations=8]
 */
import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { obtainAwsIdentity } from '../src/identity/credentials.js';
import { makeEksToken } from '../src/identity/eks-token.js';
import { memoryLogger } from '../src/report/logger.js';
import { startOidcIssuer } from '../test/support/oidc-issuer.js';
import { startStsServer } from '../test/support/sts-server.js';

const iterations = Number(process.argv[2] ?? 8);
// The SDK's Node 20 end-of-support notice would be printed in the middle of the table.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const ROOT = new URL('..', import.meta.url).pathname;
const REGION = 'eu-west-1';
const ROLE = 'arn:aws:iam::111122223333:role/deploy';

const tmp = mkdtempSync(join(tmpdir(), 'bench-identity-'));
// built as the image builds it, and started as the image starts it: the bundle's startup snapshot
// (what entrypoint.sh runs)
const start = [process.execPath, '--snapshot-blob', join(tmp, 'dist', 'pipe.blob'), join(tmp, 'dist', 'main.js')];
await execa(process.execPath, [join(ROOT, 'scripts/bundle.mjs'), join(tmp, 'dist'), '--snapshot'], { cwd: ROOT });

const issuer = await startOidcIssuer();
const sts = await startStsServer({ region: REGION });
sts.addOidcProvider({ url: issuer.issuer, clientIds: [issuer.audience] });
sts.addRole({
  arn: ROLE,
  trustPolicy: issuer.trustPolicy({ account: '111122223333', sub: `${issuer.repositoryUuid}:*`, aud: null }),
});

const baseEnv = { PATH: process.env.PATH ?? '', HOME: tmp, AWS_CONFIG_FILE: join(tmp, 'none'), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
const run = (cmd: string, args: string[], env: Record<string, string>) => execa(cmd, args, { env: { ...baseEnv, ...env }, extendEnv: false });
const timed = async <T>(fn: () => Promise<T>): Promise<[number, T]> => {
  const t = performance.now();
  const v = await fn();
  return [performance.now() - t, v];
};

type Variant = 'cliExchange' | 'pipeProcExchange' | 'pipeInExchange' | 'cliToken' | 'pipeProcToken' | 'nodeFloor';
const times: Record<Variant, number[]> = { cliExchange: [], pipeProcExchange: [], pipeInExchange: [], cliToken: [], pipeProcToken: [], nodeFloor: [] };
const tokens: string[] = [];

async function cliExchange(): Promise<Record<string, string>> {
  const token = await issuer.mint();
  const out = await run('aws', ['sts', 'assume-role-with-web-identity', '--role-arn', ROLE, '--role-session-name', 'bench', '--web-identity-token', token, '--region', REGION, '--output', 'json'], { AWS_ENDPOINT_URL_STS: sts.url });
  const c = JSON.parse(out.stdout).Credentials;
  const env = { AWS_ACCESS_KEY_ID: c.AccessKeyId, AWS_SECRET_ACCESS_KEY: c.SecretAccessKey, AWS_SESSION_TOKEN: c.SessionToken };
  const got = await run('aws', ['eks', 'get-token', '--cluster-name', 'prod', '--region', REGION, '--output', 'json'], env);
  tokens.push(JSON.parse(got.stdout).status.token);
  return env;
}

for (let i = 0; i < iterations; i++) {
  const [cli, env] = await timed(cliExchange);
  times.cliExchange.push(cli);

  const oidc = await issuer.mint();
  const [proc, out] = await timed(() =>
    run(start[0]!, [...start.slice(1), 'eks-token', '--cluster-name', 'prod', '--region', REGION], { AWS_OIDC_ROLE_ARN: ROLE, BITBUCKET_STEP_OIDC_TOKEN: oidc, AWS_ENDPOINT_URL_STS: sts.url }),
  );
  times.pipeProcExchange.push(proc);
  tokens.push(JSON.parse(out.stdout).status.token);

  const oidcIn = await issuer.mint();
  const [inProc, token] = await timed(async () => {
    const identity = await obtainAwsIdentity(
      { oidcRoleArn: ROLE, oidcToken: oidcIn, sessionDurationSeconds: 3600 },
      { repoSlug: 'bench', buildNumber: String(i) },
      { region: REGION, endpoint: sts.url, logger: memoryLogger(false) },
    );
    return makeEksToken(identity.credentials, 'prod', REGION);
  });
  times.pipeInExchange.push(inProc);
  tokens.push(token);

  const [cliTok, got] = await timed(() => run('aws', ['eks', 'get-token', '--cluster-name', 'prod', '--region', REGION, '--output', 'json'], env));
  times.cliToken.push(cliTok);
  tokens.push(JSON.parse(got.stdout).status.token);

  const file = join(tmp, 'aws-credentials.json');
  writeFileSync(file, JSON.stringify({ Version: 1, AccessKeyId: env.AWS_ACCESS_KEY_ID, SecretAccessKey: env.AWS_SECRET_ACCESS_KEY, SessionToken: env.AWS_SESSION_TOKEN }), { mode: 0o600 });
  const [procTok, tokOut] = await timed(() => run(start[0]!, [...start.slice(1), 'eks-token', '--cluster-name', 'prod', '--region', REGION, '--credentials-file', file], {}));
  times.pipeProcToken.push(procTok);
  tokens.push(JSON.parse(tokOut.stdout).status.token);

  times.nodeFloor.push((await timed(() => run(process.execPath, ['-e', '0'], {})))[0]);
}

for (const t of tokens) await sts.verifyEksToken(t, 'prod');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number) => `${x.toFixed(x < 10 ? 2 : 0)} ms`;
const row = (label: string, v: Variant, base: Variant) =>
  `| ${label} | ${ms(median(times[v]))} | ${ms(Math.min(...times[v]))} | ${(median(times[base]) / median(times[v])).toFixed(1)}x |`;

console.log(`\n${iterations} iterations, medians; all ${tokens.length} tokens verified by the local STS\n`);
console.log('| exchange + EKS token | median | best | speed-up vs aws CLI |');
console.log('|---|---|---|---|');
console.log(row('aws CLI: assume-role-with-web-identity + eks get-token', 'cliExchange', 'cliExchange'));
console.log(row('pipe, one process: `eks-token` with the OIDC token', 'pipeProcExchange', 'cliExchange'));
console.log(row('pipe, in process (a pipe run)', 'pipeInExchange', 'cliExchange'));
console.log('\n| EKS token only (each kubectl call) | median | best | speed-up vs aws CLI |');
console.log('|---|---|---|---|');
console.log(row('aws CLI: eks get-token', 'cliToken', 'cliToken'));
console.log(row('pipe: `eks-token --credentials-file` (credential plugin)', 'pipeProcToken', 'cliToken'));
console.log(row('floor: `node -e 0` (Node.js start, no pipe code)', 'nodeFloor', 'cliToken'));

await sts.close();
await issuer.close();
rmSync(tmp, { recursive: true, force: true });
