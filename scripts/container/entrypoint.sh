#!/bin/sh
# The image's entry point. Starts the pipe from pipe.blob, V8's startup snapshot of the bundle
# (made at image build time by the same Node, see src/startup-snapshot.ts): the code that runs
# before the first log line is then already evaluated in memory, not compiled at every start.
# main.js is passed as the script name only (the snapshot's own main function runs).
# V8 refuses a snapshot when other V8 flags are set, so with NODE_OPTIONS set (for example
# --enable-source-maps for mapped stack traces) the pipe starts from the bundle, through main.js.
dir=${0%/*}
[ "$dir" = "$0" ] && dir=.
if [ -z "${NODE_OPTIONS-}" ] && [ -f "$dir/pipe.blob" ]; then
  exec node --snapshot-blob "$dir/pipe.blob" "$dir/main.js" "$@"
fi
exec node "$dir/main.js" "$@"
