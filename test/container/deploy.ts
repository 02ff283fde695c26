// The image deploys the bundled example to the test bed, run the way Bitbucket runs a pipe
// (scripts/container/run.sh: the clone mounted, owned by another uid, the variables with -e).
// chroot isolation shares the host's network, so the test bed's 127.0.0.1 API server is reached.
//   usage: npx tsx test/container/deploy.ts [IMAGE]      (default localhost/app-of-apps-pipe:dev)
// Ends with "N passed, N failed"; exits non-zero if any check failed.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { parse } from 'yaml';
import { toolPath } from '../../src/util/tools.js';
import { startOidcIssuer } from '../support/oidc-issuer.js';
import { startStsServer } from '../support/sts-server.js';
import { startTestbed } from '../support/testbed.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const image = process.argv[2] ?? 'localhost/app-of-apps-pipe:dev';
const OTHER_UID = 1000;

let passed = 0;
let failed = 0;
function check(name: string, ok: boolean, detail = ''): void {
  if (ok) passed++;
  else failed++;
  console.log(`  ${ok ? 'ok  ' : 'FAIL'}  ${name}${!ok && detail ? `\n${detail.replace(/^/gm, '        ')}` : ''}`);
}

function chownTree(dir: string, uid: number): void {
  chownSync(dir, uid, uid);
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) chownTree(path, uid);
    else chownSync(path, uid, uid);
  }
}

const tmp = mkdtempSync('/var/tmp/app-of-apps-image-deploy-');
const bed = await startTestbed({ log: (line) => console.log(`  testbed: ${line}`) });
try {
  const repo = execFileSync('node', [join(root, 'scripts/example-repo.mjs'), 'native', '--out', join(tmp, 'clone')]).toString().trim();
  const head = execFileSync('git', ['-C', repo, 'rev-parse', 'HEAD']).toString().trim();
  chownTree(repo, OTHER_UID);
  const storage = join(tmp, 'storage');
  mkdirSync(storage);
  const kubeConfig = Buffer.from(readFileSync(bed.adminKubeconfig)).toString('base64');

  const asAdmin = ['-e', `KUBE_CONFIG=${kubeConfig}`];
  const deploy = async (build: string, access: string[] = asAdmin) => {
    const r = await execa(
      'bash',
      [
        join(root, 'scripts/container/run.sh'), image, repo,
        '-v', `${storage}:/opt/atlassian/pipelines/agent/pipe-storage`,
        '-e', 'CI=true', '-e', `BITBUCKET_COMMIT=${head}`, '-e', 'BITBUCKET_BRANCH=main', '-e', `BITBUCKET_BUILD_NUMBER=${build}`,
        '-e', 'BITBUCKET_REPO_FULL_NAME=acme/shop-gitops-native', '-e', 'BITBUCKET_DEPLOYMENT_ENVIRONMENT=staging',
        '-e', 'BITBUCKET_PIPE_STORAGE_DIR=/opt/atlassian/pipelines/agent/pipe-storage',
        '-e', 'MODE=deploy', '-e', 'WAIT=true', '-e', 'TIMEOUT=120', ...access,
      ],
      { reject: false, all: true, timeout: 300_000 },
    );
    console.log((r.all ?? '').replace(/^/gm, '        | '));
    return r;
  };
  const kubectl = async (args: string[]) =>
    JSON.parse((await execa(toolPath('kubectl'), ['--kubeconfig', bed.adminKubeconfig, ...args, '-o', 'json'])).stdout);

  console.log('== first deploy of the example (staging)');
  const first = await deploy('11');
  check('deploy exits 0', first.exitCode === 0, `exit ${first.exitCode}`);
  check('deploy prints a ✔ result line', /^✔ /m.test(first.stdout));
  const deployments = await kubectl(['get', 'deployments', '-A']);
  const names = (deployments.items as { metadata: { namespace: string; name: string; annotations?: Record<string, string> } }[]).map(
    (d) => `${d.metadata.namespace}/${d.metadata.name}`,
  );
  check(`the example's deployments exist (${names.join(', ')})`, names.length >= 3);
  const stamped = (deployments.items as { metadata: { annotations?: Record<string, string> } }[]).filter((d) =>
    Object.values(d.metadata.annotations ?? {}).includes(head),
  );
  check('they carry the deployed commit', stamped.length === names.length && names.length > 0);
  const reportFile = join(storage, 'app-of-apps-report.json');
  const report = existsSync(reportFile) ? JSON.parse(readFileSync(reportFile, 'utf8')) : undefined;
  check('the JSON report is in BITBUCKET_PIPE_STORAGE_DIR and says deploy', report?.mode === 'deploy' && report?.build?.commit === head);

  console.log('== the same commit again: nothing to deploy');
  const second = await deploy('12');
  check('second deploy exits 0', second.exitCode === 0, `exit ${second.exitCode}`);
  check('second deploy prints a ✔ result line', /^✔ /m.test(second.stdout));
  const status = execFileSync('git', ['-c', 'safe.directory=*', '-C', repo, 'status', '--porcelain', '--ignored'], {
    env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' },
  }).toString();
  check('the clone is untouched by both deploys', status === '', status);
  // the secret part of the kubeconfig: the admin user's private key, as given and decoded
  const keyData = (parse(readFileSync(bed.adminKubeconfig, 'utf8')) as { users: { user: Record<string, string> }[] }).users[0]!.user['client-key-data']!;
  const keyBody = Buffer.from(keyData, 'base64').toString('utf8').split('\n')[1]!;
  const outputs = `${first.all}${second.all}`;
  check(
    'neither KUBE_CONFIG nor the private key in it is anywhere in the output',
    keyBody.length > 40 && ![kubeConfig, keyData, keyBody].some((s) => outputs.includes(s)),
  );

  console.log('== EKS access from the image: Bitbucket OIDC token -> STS -> EKS token -> the API server');
  const issuer = await startOidcIssuer();
  const sts = await startStsServer({ region: 'eu-west-1' });
  try {
    const role = 'arn:aws:iam::111122223333:role/deployer';
    sts.addOidcProvider({ url: issuer.issuer, clientIds: [issuer.audience] });
    sts.addRole({
      arn: role,
      trustPolicy: issuer.trustPolicy({ account: '111122223333' }),
    });
    // an access entry for the role with cluster-admin rights: the example deploys into its own namespaces
    await bed.configureAuthenticator({ stsUrl: sts.url, roleMappings: [{ arn: role, username: 'eks:{{SessionName}}', groups: ['system:masters'] }] });
    const oidc = await issuer.mint({}, { deployment: true });
    const eks = await deploy('13', [
      '-e', `AWS_OIDC_ROLE_ARN=${role}`, '-e', `BITBUCKET_STEP_OIDC_TOKEN=${oidc}`, '-e', 'AWS_REGION=eu-west-1',
      '-e', `AWS_ENDPOINT_URL_STS=${sts.url}`, '-e', `CLUSTER_NAME=${bed.clusterName}`,
      '-e', `CLUSTER_ENDPOINT=${bed.server}`, '-e', `CLUSTER_CA_DATA=${bed.caData}`,
    ]);
    check('a run through OIDC -> STS -> EKS token exits 0 with a ✔ line', eks.exitCode === 0 && /^✔ /m.test(eks.stdout), `exit ${eks.exitCode}`);
    const decisions = await bed.authenticatorDecisions();
    check('the API server authenticated it as the role session', decisions.some((d) => d.authenticated && (d.arn ?? '').includes(':assumed-role/deployer/')));
    check('the OIDC token is nowhere in the output', !eks.all!.includes(oidc.split('.')[2]!));
  } finally {
    await bed.configureAuthenticator({ stsUrl: undefined, roleMappings: [] });
    await sts.close();
    await issuer.close();
  }
} finally {
  await bed.stop();
  rmSync(tmp, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
