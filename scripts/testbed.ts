// The test bed from the command line: npm run testbed -- build|up|down|env
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveBinaries } from '../test/testbed/binaries.js';
import { isAlive, runsRoot } from '../test/testbed/processes.js';
import { infoOf, startTestbed, type RoleMapping, type TestbedInfo } from '../test/support/testbed.js';

const usage = `usage: npm run testbed -- <command> [options]

  build                 build (or find in the cache) etcd, kube-apiserver, kube-controller-manager,
                        kube-scheduler and kwok; prints their directory
  up                    start a test bed and keep it running until Ctrl-C or \`down\`
     --cluster-name N   cluster name the EKS token authenticator expects (default testbed)
     --sts-url URL      local STS that verifies EKS tokens (e.g. http://127.0.0.1:PORT/)
     --map ARN=USER[:GROUP,GROUP...]
                        map an IAM role or user to a Kubernetes user and groups (repeatable)
     --nodes N          number of kwok nodes (default 2)
  down                  stop the test bed started by \`up\`
  env                   print shell exports for the running test bed (eval "$(npm run -s testbed -- env)")

TESTBED_ASSETS=<dir> uses existing binaries instead of building them.`;

const pointer = join(runsRoot, 'cli.json');

interface Pointer {
  pid: number;
  infoFile: string;
}

function current(): (Pointer & { info: TestbedInfo }) | undefined {
  if (!existsSync(pointer)) return undefined;
  const p = JSON.parse(readFileSync(pointer, 'utf8')) as Pointer;
  if (!isAlive(p.pid) || !existsSync(p.infoFile)) return undefined;
  return { ...p, info: JSON.parse(readFileSync(p.infoFile, 'utf8')) as TestbedInfo };
}

function parseMapping(text: string): RoleMapping {
  const m = /^(arn:[^=]+)=([^:]+)(?::(.*))?$/.exec(text);
  if (!m) throw new Error(`--map ${text}: expected ARN=USER[:GROUP,GROUP...], e.g. arn:aws:iam::111111111111:role/deployer=deployer:deployers`);
  return { arn: m[1]!, username: m[2]!, groups: m[3] ? m[3].split(',').filter(Boolean) : [] };
}

async function up(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { 'cluster-name': { type: 'string' }, 'sts-url': { type: 'string' }, map: { type: 'string', multiple: true }, nodes: { type: 'string' } },
  });
  const bed = await startTestbed({
    clusterName: values['cluster-name'],
    stsUrl: values['sts-url'],
    roleMappings: (values.map ?? []).map(parseMapping),
    nodes: values.nodes ? Number(values.nodes) : undefined,
    log: (line) => console.error(line),
  });
  const infoFile = join(bed.runDir, 'testbed.json');
  writeFileSync(infoFile, JSON.stringify(infoOf(bed), null, 2), { mode: 0o600 });
  writeFileSync(pointer, JSON.stringify({ pid: process.pid, infoFile } satisfies Pointer));
  console.log(exportsOf(bed, infoFile));
  console.error(`test bed is up (binaries ${bed.timings.binariesMs} ms, start ${bed.timings.startMs} ms); Ctrl-C or \`npm run testbed -- down\` stops it`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await bed.stop();
    rmSync(pointer, { force: true });
    console.error('test bed stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  await new Promise(() => {});
}

function exportsOf(info: TestbedInfo, infoFile: string): string {
  return [
    `export KUBECONFIG=${info.adminKubeconfig}`,
    `export TESTBED_INFO=${infoFile}`,
    `export TESTBED_SERVER=${info.server}`,
    `export TESTBED_DEPLOYER_KUBECONFIG=${info.deployerKubeconfig}`,
    `export TESTBED_CLUSTER_NAME=${info.clusterName}`,
  ].join('\n');
}

async function down(): Promise<void> {
  const bed = current();
  if (!bed) {
    console.error('no test bed started by `up` is running');
    return;
  }
  process.kill(bed.pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (isAlive(bed.pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(bed.pid)) throw new Error(`the test bed process ${bed.pid} did not stop within 30 s`);
  console.error('test bed stopped');
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'build': {
      const start = Date.now();
      const bins = await resolveBinaries(process.env, (line) => console.error(line));
      console.log(bins.etcd.replace(/\/etcd$/, ''));
      console.error(`binaries ready in ${((Date.now() - start) / 1000).toFixed(1)} s`);
      return 0;
    }
    case 'up':
      await up(rest);
      return 0;
    case 'down':
      await down();
      return 0;
    case 'env': {
      const bed = current();
      if (!bed) {
        console.error('no test bed is running; start one with `npm run testbed -- up`');
        return 1;
      }
      console.log(exportsOf(bed.info, bed.infoFile));
      return 0;
    }
    default:
      console.error(usage);
      return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`testbed: ${err.message}`);
    process.exit(1);
  },
);
