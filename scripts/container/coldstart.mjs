#!/usr/bin/env node
// Cold start of the pipe versus bare Node, measured in the same place (inside the container).
// Alternates the commands N times; for each start it takes the time from spawn to the first
// byte of output (the pipe's first log line) and to exit. Prints one JSON object.
//   usage: node coldstart.mjs N -- PIPE_COMMAND...      (the pipe's variables come from the env)
import { spawn } from 'node:child_process';

const sep = process.argv.indexOf('--');
const runs = Number(process.argv[2] ?? 20);
const pipe = process.argv.slice(sep + 1);
if (sep < 0 || !pipe.length || !(runs > 0)) {
  console.error('usage: node coldstart.mjs N -- PIPE_COMMAND...');
  process.exit(64);
}

function once(argv) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let first;
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const mark = () => (first ??= process.hrtime.bigint());
    child.stdout.on('data', mark);
    child.stderr.on('data', mark);
    child.on('error', reject);
    child.on('close', (code) => {
      const end = process.hrtime.bigint();
      const ms = (t) => Number(t - t0) / 1e6;
      resolve({ firstOutputMs: first ? ms(first) : undefined, exitMs: ms(end), code });
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x) => Math.round(x * 10) / 10;
const ratio = (a, b) => Math.round((a / b) * 100) / 100;

const node = process.execPath;
const samples = { bareExit: [], bareFirstLine: [], pipeFirstLine: [], pipeExit: [] };
const codes = new Set();
await once([node, '-e', '0']); // warm the page cache; every measured start is then equally warm
await once(pipe);
for (let i = 0; i < runs; i++) {
  samples.bareExit.push((await once([node, '-e', '0'])).exitMs);
  samples.bareFirstLine.push((await once([node, '-e', 'console.log(1)'])).firstOutputMs);
  const p = await once(pipe);
  if (p.firstOutputMs === undefined) throw new Error(`the pipe printed nothing (exit ${p.code})`);
  samples.pipeFirstLine.push(p.firstOutputMs);
  samples.pipeExit.push(p.exitMs);
  codes.add(p.code);
}
const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, round(median(v))]));
// the minimum is the least disturbed start: on a shared machine it is the steadier comparison
const min = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, round(Math.min(...v))]));
console.log(
  JSON.stringify({
    runs,
    node: process.version,
    medianMs: m,
    minMs: min,
    ratioFirstLineToBareNode: { median: ratio(m.pipeFirstLine, m.bareExit), min: ratio(min.pipeFirstLine, min.bareExit) },
    pipeExitCodes: [...codes],
  }),
);
