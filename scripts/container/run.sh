#!/usr/bin/env bash
# Runs the image's entrypoint the way Bitbucket runs a pipe: the clone mounted at
# /opt/atlassian/pipelines/agent/build, BITBUCKET_CLONE_DIR set, the variables given with -e.
# `podman run` fails on rlimits in this sandbox, so this uses a buildah working container with
# chroot isolation (host network: 127.0.0.1 is the host's) and runs exactly the entrypoint the
# image declares (as `podman image inspect` reports it). Exits with the pipe's exit code.
#   usage: scripts/container/run.sh IMAGE CLONE_DIR [-e NAME=VALUE | -v SRC:DST]... [-- ARGS...]
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 IMAGE CLONE_DIR [-e NAME=VALUE | -v SRC:DST]... [-- ARGS...]" >&2; exit 64; }
image="$1"
clone="$(cd "$2" && pwd)"
shift 2
opts=()
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; args=("$@"); break ;;
    -e|-v) opts+=("$1" "$2"); shift 2 ;;
    *) echo "run: unexpected argument '$1'" >&2; exit 64 ;;
  esac
done

entrypoint=()
while IFS= read -r word; do [ -n "$word" ] && entrypoint+=("$word"); done \
  < <(podman image inspect --format '{{range .Config.Entrypoint}}{{println .}}{{end}}' "$image")
[ ${#entrypoint[@]} -gt 0 ] || { echo "run: $image declares no ENTRYPOINT" >&2; exit 1; }

ctr="$(buildah from --pull-never --quiet "$image")"
trap 'buildah rm "$ctr" >/dev/null' EXIT
rc=0
buildah run --isolation chroot \
  -v "$clone:/opt/atlassian/pipelines/agent/build" \
  -e BITBUCKET_CLONE_DIR=/opt/atlassian/pipelines/agent/build \
  ${opts[@]+"${opts[@]}"} "$ctr" -- "${entrypoint[@]}" ${args[@]+"${args[@]}"} \
  2> >(grep -vE '^(subprocess exited with status [0-9]+|Error: exit status [0-9]+)$' >&2) || rc=$?
exit "$rc"
