#!/usr/bin/env bash
# Installs what building and running the image needs here (podman, buildah, debootstrap) from
# Debian's packages. Idempotent and quiet: does nothing when all three are present.
set -euo pipefail

missing=()
for tool in podman buildah debootstrap; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing podman, buildah and debootstrap (missing: ${missing[*]})"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq podman buildah debootstrap >/dev/null
