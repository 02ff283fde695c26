#!/usr/bin/env node
// The pipe's entry point script (dist/main.js, /pipe/main.js in the image): loads the bundle
// pipe.cjs beside it. The image starts the pipe from its startup snapshot instead (entrypoint.sh)
// and names this file only as the script, unless NODE_OPTIONS is set.
// CommonJS (package.json beside it says so): an ES module entry costs the ESM loader's start.
'use strict';
require('./pipe.cjs');
