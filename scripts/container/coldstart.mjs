#!/usr/bin/env node
// Cold start of the pipe versus bare Node, measured in the same place (inside the container).
// Alternates the commands N times; for each start it takes the time from spawn to the first
// byte of output (the pipe's first log line) and to exit, and the CPU time the process (all its
// threads) had used when that first byte arrived: on a shared machine wall time swings with
// everyone else's load, CPU time much less. BASELINE, when given, is the naive way to start the
// same pipe (the bundle loaded by Node, without the snapshot), measured in the same rounds.
// PIPE and BASELINE are a JavaScript file (run with this Node) or an executable (the image's
// entrypoint.sh, which execs Node: same process, so its CPU time is Node's).
// Prints one JSON object.
//   usage: node coldstart.mjs N PIPE [BASELINE]   (the pipe's variables: the env)
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const runs = Number(process.argv[2]);
const [pipeStart, baselineStart] = process.argv.slice(3);
if (!(runs > 0) || !pipeStart) {
  console.error('usage: node coldstart.mjs N PIPE [BASELINE]');
  process.exit(64);
}
const command = (file) => (/\.[cm]?js$/.test(file) ? [process.execPath, file] : [file]);
const pipe = command(pipeStart);
const baseline = baselineStart ? command(baselineStart) : undefined;

/** CPU time of every thread of a live process, in ms (/proc/PID/task/TID/schedstat, ns). */
function cpuMs(pid) {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  }
  return ns / 1e6;
}

function once(argv) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let first;
    let cpu;
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const mark = () => {
      if (first) return;
      first = process.hrtime.bigint();
      try {
        cpu = cpuMs(child.pid);
      } catch {
        cpu = undefined; // exited already
      }
    };
    child.stdout.on('data', mark);
    child.stderr.on('data', mark);
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = (t) => Number(t - t0) / 1e6;
      resolve({ firstOutputMs: first ? ms(first) : undefined, cpuAtFirstOutputMs: cpu, exitMs: ms(process.hrtime.bigint()), code });
    });
  });
}

const median = (xs) => {
  const s = xs.filter((x) => x !== undefined).sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x) => Math.round(x * 10) / 10;
const ratio = (a, b) => Math.round((a / b) * 100) / 100;

const node = process.execPath;
// bare Node that prints a line and stays alive briefly, so its CPU time can be read at that line
const bareLine = [node, '-e', 'console.log(1); setTimeout(() => {}, 100)'];
const samples = { bareExit: [], bareFirstLine: [], bareCpuAtFirstLine: [], pipeFirstLine: [], pipeCpuAtFirstLine: [], pipeExit: [] };
if (baseline) Object.assign(samples, { baselineFirstLine: [], baselineCpuAtFirstLine: [] });
const codes = new Set();
await once([node, '-e', '0']); // warm the page cache; every measured start is then equally warm
await once(pipe);
for (let i = 0; i < runs; i++) {
  samples.bareExit.push((await once([node, '-e', '0'])).exitMs);
  const b = await once(bareLine);
  samples.bareFirstLine.push(b.firstOutputMs);
  samples.bareCpuAtFirstLine.push(b.cpuAtFirstOutputMs);
  const p = await once(pipe);
  if (p.firstOutputMs === undefined) throw new Error(`the pipe printed nothing (exit ${p.code})`);
  samples.pipeFirstLine.push(p.firstOutputMs);
  samples.pipeCpuAtFirstLine.push(p.cpuAtFirstOutputMs);
  samples.pipeExit.push(p.exitMs);
  codes.add(p.code);
  if (baseline) {
    const n = await once(baseline);
    samples.baselineFirstLine.push(n.firstOutputMs);
    samples.baselineCpuAtFirstLine.push(n.cpuAtFirstOutputMs);
  }
}
const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, round(median(v))]));
// the minimum is the least disturbed start
const min = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, round(Math.min(...v.filter((x) => x !== undefined)))]));
console.log(
  JSON.stringify({
    runs,
    node: process.version,
    medianMs: m,
    minMs: min,
    ratioFirstLineToBareNode: { median: ratio(m.pipeFirstLine, m.bareExit), min: ratio(min.pipeFirstLine, min.bareExit) },
    ratioCpuAtFirstLine: ratio(m.pipeCpuAtFirstLine, m.bareCpuAtFirstLine),
    ...(baseline && {
      speedUpVsBaseline: { firstLine: ratio(m.baselineFirstLine, m.pipeFirstLine), cpu: ratio(m.baselineCpuAtFirstLine, m.pipeCpuAtFirstLine) },
    }),
    pipeExitCodes: [...codes],
  }),
);
