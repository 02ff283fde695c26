// Tears a test-bed run down when its owner process dies, however it died.
// Usage: node watchdog.mjs <runDir>. Exits quietly once the run directory is gone (a normal stop).
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const runDir = process.argv[2];
if (!runDir) process.exit(2);

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
};
const signalGroup = (pid, signal) => {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
};
const readState = () => {
  try {
    return JSON.parse(readFileSync(join(runDir, 'state.json'), 'utf8'));
  } catch {
    return undefined;
  }
};

for (;;) {
  if (!existsSync(runDir)) process.exit(0);
  const state = readState();
  if (state && !alive(state.ownerPid)) {
    for (const pid of state.pids) signalGroup(pid, 'SIGTERM');
    const deadline = Date.now() + 3000;
    while (state.pids.some(alive) && Date.now() < deadline) await sleep(100);
    for (const pid of state.pids) signalGroup(pid, 'SIGKILL');
    rmSync(runDir, { recursive: true, force: true });
    process.exit(0);
  }
  await sleep(500);
}
