#!/usr/bin/env node
// Entry point: env -> run() -> exit code. Subcommands:
//   (none)     run the pipe as configured by the environment (pipe variables)
//   eks-token  print an ExecCredential for kubectl (a credential plugin that needs no AWS CLI)

import { startupSnapshot } from 'node:v8';
import { mask } from './report/mask.js';

async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  // The image runs Node 20 (docs/container.md): without this, every run that loads the AWS SDK
  // prints its 9-line notice that releases after January 2027 need Node 22. The variable is the
  // SDK's documented switch (aws/aws-sdk-js-v3#7983); a value the user set wins.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  switch (command) {
    case undefined:
    case 'run': {
      // A cancelled pipeline sends SIGTERM: stop starting new work, finish or abort in-flight calls,
      // clean up credentials. A second signal exits at once.
      const controller = new AbortController();
      const onSignal = (sig: NodeJS.Signals) => {
        if (controller.signal.aborted) process.exit(sig === 'SIGINT' ? 130 : 143);
        process.stderr.write(`Received ${sig}: stopping after in-flight work (send again to exit at once)\n`);
        controller.abort(new Error(`cancelled by ${sig}`));
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      // loaded lazily so the eks-token path (run once per kubectl call) starts fast
      const { run } = await import('./run.js');
      return run(process.env, { signal: controller.signal });
    }
    case 'eks-token': {
      const { eksTokenCommand } = await import('./identity/eks-token-command.js');
      return eksTokenCommand(argv.slice(1), process.env);
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

function start(): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(mask(`✖ internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`));
      process.exitCode = 1;
    },
  );
}

if (startupSnapshot.isBuildingSnapshot()) {
  // the image build (`node --snapshot-blob pipe.blob --build-snapshot pipe.cjs`): nothing runs
  // now; the snapshot holds the modules already evaluated, and a start from it calls start()
  void import('./startup-snapshot.js').then((m) => m.prepareSnapshot(start));
} else {
  start();
}
