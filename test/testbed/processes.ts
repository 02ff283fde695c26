import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, rmSync, existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, mkdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/** Every run lives in its own directory here; a later start sweeps the ones whose owner died. */
export const runsRoot = join(tmpdir(), 'app-of-apps-testbed');

/** What a run directory records, so that a stop, the watchdog or a later sweep can clean up. */
export interface RunState {
  /** The process that owns the run; when it dies, the run is torn down. */
  ownerPid: number;
  /** Process-group leaders (each component is started in a group of its own). */
  pids: number[];
  startedAt: string;
}

export interface Component {
  name: string;
  pid: number;
  log: string;
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<number | string>;
  hasExited(): boolean;
}

export async function newRunDir(): Promise<string> {
  await mkdir(runsRoot, { recursive: true, mode: 0o700 });
  return mkdtemp(join(runsRoot, 'run-'));
}

export function writeState(runDir: string, state: RunState): void {
  writeFileSync(join(runDir, 'state.json'), JSON.stringify(state));
}

export function readState(runDir: string): RunState | undefined {
  try {
    return JSON.parse(readFileSync(join(runDir, 'state.json'), 'utf8')) as RunState;
  } catch {
    return undefined;
  }
}

/** Starts a process in its own process group with stdout and stderr in runDir/logs/<name>.log. */
export async function startComponent(runDir: string, name: string, bin: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Component> {
  const logs = join(runDir, 'logs');
  await mkdir(logs, { recursive: true });
  const log = join(logs, `${name}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd], env, cwd: runDir });
  closeSync(fd);
  let ended = false;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => { ended = true; resolve(code ?? signal ?? 'unknown'); });
    child.once('error', (err) => { ended = true; resolve(err.message); });
  });
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${name} (${bin}): ${await exited}`);
  return { name, pid: child.pid, log, exited, hasExited: () => ended };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** SIGTERM to each process group, then SIGKILL to what is left after graceMs. */
export async function killGroups(pids: number[], graceMs = 5_000): Promise<void> {
  for (const pid of pids) signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.some(isAlive) && Date.now() < deadline) await sleep(50);
  for (const pid of pids) signalGroup(pid, 'SIGKILL');
}

/** Synchronous last resort for process 'exit' handlers, where nothing asynchronous runs. */
export function killGroupsNow(pids: number[]): void {
  for (const pid of pids) signalGroup(pid, 'SIGKILL');
}

/** A pid that has been reused by an unrelated process must not be killed: check its command line. */
function belongsToRun(pid: number, runDir: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(runDir);
  } catch {
    return false;
  }
}

/** Tears down runs whose owner is gone (a crashed test process that no watchdog caught). */
export async function sweepStaleRuns(): Promise<string[]> {
  if (!existsSync(runsRoot)) return [];
  const swept: string[] = [];
  for (const entry of readdirSync(runsRoot).filter((e) => e.startsWith('run-'))) {
    const runDir = join(runsRoot, entry);
    const state = readState(runDir);
    if (state && isAlive(state.ownerPid)) continue;
    if (!state && Date.now() - statSync(runDir).mtimeMs < 60_000) continue; // a run still being set up
    await killGroups((state?.pids ?? []).filter((pid) => belongsToRun(pid, runDir)), 2_000);
    rmSync(runDir, { recursive: true, force: true });
    swept.push(runDir);
  }
  return swept;
}

/**
 * Starts a detached watchdog that tears the run down (process groups and directory) as soon as
 * the owner process dies, even by SIGKILL, when no exit handler of the owner gets to run.
 */
export function startWatchdog(runDir: string): number {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'watchdog.mjs');
  const child = spawn(process.execPath, [script, runDir], { detached: true, stdio: 'ignore' });
  child.unref();
  return child.pid ?? 0;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/** `count` different TCP ports on 127.0.0.1 that were free a moment ago (all held open until each is known). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => {
      const server = createServer();
      server.unref();
      return new Promise<Server>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve(server));
      });
    }),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (typeof address !== 'object' || !address) throw new Error('no port');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** The last lines of a component's log, for error messages. */
export async function logTail(log: string, lines = 25): Promise<string> {
  try {
    return (await readFile(log, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Polls check() until it returns a value; fails early, with the component's log, if one of the
 * components exits in the meantime.
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, components: Component[], timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    const dead = components.find((c) => c.hasExited());
    if (dead) throw new Error(`${dead.name} exited (${await dead.exited}) while waiting for ${what}; last lines of ${dead.log}:\n${await logTail(dead.log)}`);
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError}` : ''}`);
    await sleep(100);
  }
}
