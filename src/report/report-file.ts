// Where the JSON report goes, checked before any work: a report that cannot be written must stop
// the run before anything is applied, not crash it afterwards.
import { accessSync, constants, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { InputError } from '../util/errors.js';

const where = { variable: 'REPORT_FILE' };
const hint = 'set REPORT_FILE to a file path in a folder the pipe can write (relative paths are relative to the clone), or leave it unset';

/** Throws an InputError naming REPORT_FILE when `file` is a folder, or when neither it nor the nearest folder above it can be written. */
export function checkReportFile(file: string): void {
  const stat = statOf(file);
  if (stat?.isDirectory()) throw new InputError(`${file} is a folder; the report is a file`, { where, hint });
  let dir = stat ? file : dirname(file);
  for (let up = statOf(dir); !up; up = statOf(dir)) {
    if (dirname(dir) === dir) break;
    dir = dirname(dir);
  }
  try {
    // the report is written next to the file and renamed over it: its folder must be writable too
    if (stat) accessSync(file, constants.W_OK);
    if (stat) dir = dirname(file);
    if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a folder`);
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new InputError(`the report cannot be written to ${file} (${(err as Error).message})`, { where, hint });
  }
}

/** A path's stat, or undefined when nothing is there (a file in the way of a folder counts as nothing there). */
function statOf(path: string) {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}
