#!/usr/bin/env bash
# The image's size by layer, and the pipe's cold start inside the container (spawn to first log
# line) versus bare Node (`node -e 0`) in the same container, same run; and the entry point
# (/pipe/entrypoint.sh: the startup snapshot) versus the naive start, the bundle alone (/pipe/pipe.cjs).
#   usage: bench/container.sh [IMAGE] [RUNS]     (default localhost/app-of-apps-pipe:dev, 20)
# Runs at raised priority (nice -10) when it can: the machine is shared, and both commands are
# measured alike; minima are printed beside medians as the least disturbed starts.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
image="${1:-localhost/app-of-apps-pipe:dev}"
runs="${2:-20}"
base_image="${BASE_IMAGE:-localhost/node:20-bookworm-slim}"
tmp="$(mktemp -d /var/tmp/app-of-apps-bench.XXXXXX)"
ctr=""
trap '[ -n "$ctr" ] && buildah rm "$ctr" >/dev/null; rm -rf "$tmp"' EXIT

echo "## Image layers ($image)"
podman save --quiet --format oci-dir -o "$tmp/oci" "$image"
# history (newest first, empty layers skipped) lines up with the manifest's layers (oldest first)
podman history --no-trunc --format '{{.Size}}|{{.CreatedBy}}' "$image" >"$tmp/history"
node - "$tmp/oci" "$(podman image inspect --format '{{len .RootFS.Layers}}' "$base_image")" "$tmp/history" <<'JS'
const { readFileSync } = require('fs');
const [dir, baseCount, historyFile] = process.argv.slice(2);
const blob = (d) => JSON.parse(readFileSync(`${dir}/blobs/sha256/${d.split(':')[1]}`, 'utf8'));
const manifest = blob(JSON.parse(readFileSync(`${dir}/index.json`, 'utf8')).manifests[0].digest);
const history = readFileSync(historyFile, 'utf8').trim().split('\n').map((l) => l.split('|'))
  .filter(([size]) => size !== '0B' && size !== '0 B').reverse();
const mb = (n) => (n / 1e6).toFixed(1);
let own = 0;
console.log('| layer | size | compressed | created by |\n| --- | ---: | ---: | --- |');
manifest.layers.forEach((l, i) => {
  const [size, by] = history[i] ?? ['?', '?'];
  const what = i < Number(baseCount) ? `base: ${by}` : by;
  if (i >= Number(baseCount) && /\/pipe\//.test(by)) own += l.size;
  console.log(`| ${i + 1} | ${size} | ${mb(l.size)} MB | \`${what.replace(/\s+/g, ' ').slice(0, 90)}\` |`);
});
const total = manifest.layers.reduce((n, l) => n + l.size, 0);
console.log(`\ncompressed total ${mb(total)} MB; the pipe's own layer (/pipe) ${mb(own)} MB compressed`);
JS

echo
echo "## Cold start in the container ($runs runs each, alternating)"
repo="$(node "$root/scripts/example-repo.mjs" native --out "$tmp/repo")"
ctr="$(buildah from --pull-never --quiet "$image")"
nice_cmd=()
nice -n -10 true 2>/dev/null && nice_cmd=(nice -n -10)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"${nice_cmd[@]}" buildah run --isolation chroot \
  -v "$repo:/opt/atlassian/pipelines/agent/build" \
  -v "$root/scripts/container/coldstart.mjs:/bench/coldstart.mjs:ro" \
  -e BITBUCKET_CLONE_DIR=/opt/atlassian/pipelines/agent/build -e MODE=plan -e ENVIRONMENT=staging \
  "$ctr" -- /usr/local/bin/node /bench/coldstart.mjs "$runs" /pipe/entrypoint.sh /pipe/pipe.cjs
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
