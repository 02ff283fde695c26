import { join } from 'node:path';

/** Where a run keeps its files and which ports it uses; everything is on 127.0.0.1. */
export interface Layout {
  runDir: string;
  pkiDir: string;
  ports: { etcdClient: number; etcdPeer: number; apiserver: number; controllerManager: number; scheduler: number };
  kubeconfigs: { controllerManager: string; scheduler: string; kwok: string; webhook: string };
}

export function etcdArgs(l: Layout): string[] {
  const client = `http://127.0.0.1:${l.ports.etcdClient}`;
  const peer = `http://127.0.0.1:${l.ports.etcdPeer}`;
  return [
    '--name=testbed',
    `--data-dir=${join(l.runDir, 'etcd')}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=testbed=${peer}`,
    // A throw-away store: durability costs seconds per test run and buys nothing here.
    '--unsafe-no-fsync',
    '--log-level=warn',
  ];
}

export function apiserverArgs(l: Layout): string[] {
  const pki = (f: string) => join(l.pkiDir, f);
  return [
    `--etcd-servers=http://127.0.0.1:${l.ports.etcdClient}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${l.ports.apiserver}`,
    `--cert-dir=${join(l.runDir, 'apiserver')}`,
    `--tls-cert-file=${pki('apiserver.crt')}`,
    `--tls-private-key-file=${pki('apiserver.key')}`,
    `--client-ca-file=${pki('ca.crt')}`,
    '--authorization-mode=Node,RBAC',
    `--authentication-token-webhook-config-file=${l.kubeconfigs.webhook}`,
    '--authentication-token-webhook-version=v1',
    // No cache: a test that changes the role mappings sees the change on its next request.
    '--authentication-token-webhook-cache-ttl=0s',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki('sa.pub')}`,
    `--service-account-signing-key-file=${pki('sa.key')}`,
    '--service-cluster-ip-range=10.96.0.0/16',
    // The "kubernetes" Service cannot point at a loopback address, so leave its endpoints alone.
    '--endpoint-reconciler-type=none',
    '--allow-privileged=true',
    // API priority and fairness only matters under overload; off, start-up is a second or two faster.
    '--enable-priority-and-fairness=false',
    '--profiling=false',
  ];
}

/** kube-controller-manager and kube-scheduler share the flags of a secured component. */
function securedComponentArgs(kubeconfig: string, port: number, certDir: string): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    `--cert-dir=${certDir}`,
    '--leader-elect=false',
    '--profiling=false',
  ];
}

export function controllerManagerArgs(l: Layout): string[] {
  const pki = (f: string) => join(l.pkiDir, f);
  return [
    ...securedComponentArgs(l.kubeconfigs.controllerManager, l.ports.controllerManager, join(l.runDir, 'controller-manager')),
    // Each controller acts under its own service account, as on a real cluster.
    '--use-service-account-credentials=true',
    `--service-account-private-key-file=${pki('sa.key')}`,
    `--root-ca-file=${pki('ca.crt')}`,
    `--cluster-signing-cert-file=${pki('ca.crt')}`,
    `--cluster-signing-key-file=${pki('ca.key')}`,
  ];
}

export function schedulerArgs(l: Layout): string[] {
  return securedComponentArgs(l.kubeconfigs.scheduler, l.ports.scheduler, join(l.runDir, 'scheduler'));
}

export function kwokArgs(l: Layout): string[] {
  return [`--kubeconfig=${l.kubeconfigs.kwok}`, '--manage-all-nodes=true', '--node-lease-duration-seconds=40'];
}
