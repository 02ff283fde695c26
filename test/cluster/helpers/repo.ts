import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** A real git repository in a temp dir, changed one commit at a time. */
export class Repo {
  readonly dir: string;

  constructor(files: Record<string, string>) {
    this.dir = join(mkdtempSync(join(tmpdir(), 'aoa-pipe-')), 'repo');
    mkdirSync(this.dir);
    this.git('init', '-q', '-b', 'main');
    this.commit(files, 'initial');
  }

  git(...args: string[]): string {
    return execFileSync('git', ['-C', this.dir, '-c', 'user.email=dev@example.com', '-c', 'user.name=dev', ...args], { encoding: 'utf8' }).trim();
  }

  /** Writes (or, with null, deletes) files and commits; returns the new HEAD. */
  commit(files: Record<string, string | null>, message = 'change'): string {
    for (const [path, content] of Object.entries(files)) {
      const full = join(this.dir, path);
      if (content === null) rmSync(full, { force: true });
      else {
        mkdirSync(dirname(full), { recursive: true });
        writeFileSync(full, content);
      }
    }
    this.git('add', '-A');
    this.git('commit', '-q', '--allow-empty', '-m', message);
    return this.head();
  }

  head(): string {
    return this.git('rev-parse', 'HEAD');
  }

  remove(): void {
    rmSync(dirname(this.dir), { recursive: true, force: true });
  }
}

export const yamlDeployment = (name: string, o: { replicas?: string; nodeSelector?: string; progressDeadlineSeconds?: number; image?: string } = {}) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: ${o.replicas ?? '1'}
${o.progressDeadlineSeconds ? `  progressDeadlineSeconds: ${o.progressDeadlineSeconds}\n` : ''}  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
${o.nodeSelector ? `      nodeSelector: {${o.nodeSelector}}\n` : ''}      containers:
        - name: app
          image: ${o.image ?? 'registry.example/app:1'}
`;

export const yamlService = (name: string) => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  selector: {app: ${name}}
  ports: [{port: 80}]
`;

export const yamlConfigMap = (name: string, data: Record<string, string>) => `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
data:
${Object.entries(data).map(([k, v]) => `  ${k}: "${v}"`).join('\n')}
`;
