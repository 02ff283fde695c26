#!/usr/bin/env node
// Turns examples/<name> into a git repository with a short history, so plan mode has a base to
// compare with: the last commit changes one thing (see HISTORY). A repository cannot live inside
// the project's own repository, hence this script.
//
//   node scripts/example-repo.mjs [native|argocd] [--out DIR]   -> prints the repository's path
//
// Same input, same commits (fixed author and dates): running it again gives the same SHAs.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const EXAMPLES = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples');
const MARKER = 'app-of-apps-example';

/** Commits after the first, oldest first; each edit turns `before` into `after` in `file`. */
const HISTORY = {
  native: {
    origin: 'https://bitbucket.org/acme/shop-gitops-native.git',
    commits: [
      {
        message: 'api: release 1.4.1',
        edits: [
          { file: 'apps/api/values.yaml', before: 'tag: "1.4.0"', after: 'tag: "1.4.1"' },
          { file: 'apps/api/Chart.yaml', before: 'appVersion: "1.4.0"', after: 'appVersion: "1.4.1"' },
        ],
      },
      {
        message: 'web-service base: add a readiness probe',
        edits: [
          {
            file: 'bases/web-service/deployment.yaml',
            before: '            - containerPort: 8080\n',
            after: '            - containerPort: 8080\n          readinessProbe:\n            httpGet: { path: /healthz, port: 8080 }\n            periodSeconds: 5\n',
          },
        ],
      },
    ],
  },
  argocd: {
    origin: 'https://bitbucket.org/acme/shop-gitops.git',
    commits: [
      {
        message: 'checkout: release 3.1.0',
        edits: [{ file: 'checkout/base/deployment.yaml', before: 'checkout:3.0.9', after: 'checkout:3.1.0' }],
      },
      {
        message: 'frontend: three replicas live',
        edits: [{ file: 'frontend/values-live.yaml', before: 'replicas: 2', after: 'replicas: 3' }],
      },
    ],
  },
};

function parseArgs(argv) {
  let name = 'native';
  let out;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') out = argv[++i];
    else if (argv[i].startsWith('--out=')) out = argv[i].slice(6);
    else if (argv[i] === '--help' || argv[i] === '-h') usage(0);
    else if (!argv[i].startsWith('-')) name = argv[i];
    else usage(2, `unknown option ${argv[i]}`);
  }
  if (!HISTORY[name]) usage(2, `unknown example "${name}" (known: ${Object.keys(HISTORY).join(', ')})`);
  if (out === '') usage(2, '--out needs a directory');
  return { name, out: resolve(out ?? join(tmpdir(), `${MARKER}-${name}`)) };
}

function usage(code, problem) {
  if (problem) console.error(`example-repo: ${problem}`);
  console.error('usage: node scripts/example-repo.mjs [native|argocd] [--out DIR]');
  process.exit(code);
}

/** Empties `out` if it is a repository this script made; refuses to touch anything else. */
function prepare(out) {
  if (existsSync(out) && readdirSync(out).length) {
    if (!existsSync(join(out, '.git', MARKER))) {
      console.error(`example-repo: ${out} exists and was not made by this script; give an empty or new --out directory`);
      process.exit(2);
    }
    rmSync(out, { recursive: true, force: true });
  }
  mkdirSync(out, { recursive: true });
}

function replaceOnce(text, from, to, file) {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`example-repo: "${from.trim()}" must occur exactly once in ${file}`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

function main() {
  const { name, out } = parseArgs(process.argv.slice(2));
  const { origin, commits } = HISTORY[name];
  prepare(out);
  cpSync(join(EXAMPLES, name), out, { recursive: true });

  // the first commit holds every file as it was before the later commits
  const edit = (e, reverse) => {
    const file = join(out, e.file);
    writeFileSync(file, replaceOnce(readFileSync(file, 'utf8'), reverse ? e.after : e.before, reverse ? e.before : e.after, e.file));
  };
  for (const c of [...commits].reverse()) for (const e of [...c.edits].reverse()) edit(e, true);

  let tick = 0;
  const git = (...args) => {
    const date = `2025-01-0${1 + Math.min(tick, 8)}T10:00:00Z`;
    return execFileSync('git', ['-c', `safe.directory=${out}`, '-C', out, ...args], {
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 'Example Author',
        GIT_AUTHOR_EMAIL: 'author@example.com',
        GIT_COMMITTER_NAME: 'Example Author',
        GIT_COMMITTER_EMAIL: 'author@example.com',
        GIT_AUTHOR_DATE: date,
        GIT_COMMITTER_DATE: date,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    }).toString();
  };
  git('init', '--quiet', '--initial-branch=main');
  writeFileSync(join(out, '.git', MARKER), `${name}\n`);
  git('remote', 'add', 'origin', origin);
  git('add', '--all');
  git('commit', '--quiet', '--no-gpg-sign', '-m', `${name} example: initial layout`);
  for (const c of commits) {
    tick++;
    for (const e of c.edits) edit(e, false);
    git('add', '--all');
    git('commit', '--quiet', '--no-gpg-sign', '-m', c.message);
  }
  process.stdout.write(`${out}\n`);
}

main();
