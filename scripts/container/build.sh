#!/usr/bin/env bash
# Builds the pipe's image with podman, the way that works on machines without a Docker engine
# or registry access: chroot isolation, cgroupfs, the local base image, and kubectl/helm taken
# from the build context (.tools/bin, installed by `npm ci` from the npm registry).
#   usage: scripts/container/build.sh [IMAGE]            (default localhost/app-of-apps-pipe:dev)
#   env:   BASE_IMAGE   (default localhost/node:20-bookworm-slim, see base.sh)
#          TOOLS_SOURCE (default context; "download" fetches the official releases)
#          CONTEXT      (default the repository root)
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
context="${CONTEXT:-$root}"
image="${1:-localhost/app-of-apps-pipe:dev}"
base="${BASE_IMAGE:-localhost/node:20-bookworm-slim}"
tools="${TOOLS_SOURCE:-context}"

if [ "$tools" = context ] && ! [ -x "$context/.tools/bin/kubectl" -a -x "$context/.tools/bin/helm" ]; then
  (cd "$context" && node scripts/install-tools.mjs)
fi

# this machine's CA bundle, for registries reached through a TLS-re-signing proxy (never in a layer)
secret=()
ca="${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"
[ -s "$ca" ] && secret=(--secret "id=ca-certificates,src=$ca")

start=$SECONDS
podman --cgroup-manager=cgroupfs build --isolation=chroot --layers \
  --build-arg BASE_IMAGE="$base" \
  --build-arg TOOLS_SOURCE="$tools" \
  "${secret[@]}" \
  --label org.opencontainers.image.revision="$(git -C "$context" rev-parse HEAD 2>/dev/null || echo unknown)" \
  -t "$image" -f "$context/Dockerfile" "$context"
echo "build: $image in $((SECONDS - start)) s"
