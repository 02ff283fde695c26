#!/usr/bin/env bash
# CI for the pipe's image: build it from this checkout and run it the way Bitbucket runs a pipe.
#   1. podman, buildah, debootstrap (setup.sh)      2. the local base image (base.sh, cached)
#   3. the image (build.sh)                         4. image checks (test/container/image.test.sh)
#   5. the default download path for kubectl/helm (test/container/download.test.sh)
#   6. a deploy of the example to the test bed (test/container/deploy.ts)
# Needs `npm ci` done (kubectl/helm in .tools/bin, tsx for the deploy). Exits non-zero on failure.
#   env: IMAGE (default localhost/app-of-apps-pipe:ci)
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
image="${IMAGE:-localhost/app-of-apps-pipe:ci}"
cd "$root"
step() { echo "== container: $1 ($(date +%T))"; }

step "setup"
bash scripts/container/setup.sh
step "base image"
bash scripts/container/base.sh
step "build $image"
log="$(mktemp)"
bash scripts/container/build.sh "$image" >"$log" 2>&1 || { tail -40 "$log"; exit 1; }
grep -E '^(bundle|snapshot|install-tools|build):' "$log"
rm -f "$log"
# both suites run even if the first fails: one report of everything that is wrong
failed=0
step "image checks"
bash test/container/image.test.sh "$image" || failed=1
step "the default kubectl/helm download path, against a local HTTPS server"
bash test/container/download.test.sh || failed=1
step "deploy the example to the test bed"
npx tsx test/container/deploy.ts "$image" || failed=1
exit "$failed"
