// A private temp dir (0700) for credential files (0600) and a run's scratch files, removed on
// dispose, on exit and on SIGINT/SIGTERM. When something else in the process also handles the signal (a graceful
// shutdown letting kubectl calls finish), the dir stays until exit so those calls still work.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const live = new Set<string>();
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
let hooked = false;

function removeAll(): void {
  for (const dir of live) rmSync(dir, { recursive: true, force: true });
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  removeAll();
  unhook();
  // We were the only handler: restore the default (terminate by this signal).
  process.kill(process.pid, signal);
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', removeAll);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

function unhook(): void {
  if (!hooked) return;
  hooked = false;
  process.removeListener('exit', removeAll);
  for (const signal of SIGNALS) process.removeListener(signal, onSignal);
}

export class PrivateDir {
  private constructor(readonly path: string) {}

  static create(prefix = 'app-of-apps-pipe-'): PrivateDir {
    const path = mkdtempSync(join(tmpdir(), prefix));
    chmodSync(path, 0o700);
    live.add(path);
    hook();
    return new PrivateDir(path);
  }

  /** Writes a file readable by this user only; returns its path. */
  write(name: string, content: string): string {
    const file = join(this.path, name);
    writeFileSync(file, content, { mode: 0o600 });
    chmodSync(file, 0o600);
    return file;
  }

  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
    live.delete(this.path);
    if (live.size === 0) unhook();
  }
}
