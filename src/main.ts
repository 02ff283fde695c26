#!/usr/bin/env node
// Entry point: env -> run() -> exit code. Subcommands:
//   (none)     run the pipe as configured by the environment (pipe variables)
//   eks-token  print an ExecCredential for kubectl (a credential plugin that needs no AWS CLI)
import { run } from './run.js';

const [command] = process.argv.slice(2);

async function main(): Promise<number> {
  switch (command) {
    case undefined:
    case 'run':
      return run(process.env);
    case 'eks-token': {
      const { eksTokenCommand } = await import('./identity/eks-token-command.js');
      return eksTokenCommand(process.argv.slice(3), process.env);
    }
    case '--version':
    case 'version':
      process.stdout.write(`app-of-apps-pipe ${process.env.npm_package_version ?? ''}\n`);
      return 0;
    default:
      process.stderr.write(`✖ unknown command "${command}"; use no argument to run the pipe, or "eks-token"\n`);
      return 2;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`✖ internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
