#!/usr/bin/env bash
# Builds the local stand-in for the official node:20-bookworm-slim image, for machines that reach
# no container registry: Debian bookworm (debootstrap minbase, trimmed like Debian's slim images)
# plus this machine's Node 20 and npm at the official image's paths. Cached: rebuilt only when
# the image is missing or this machine's Node binary changed.
#   usage: scripts/container/base.sh [IMAGE]     (default localhost/node:20-bookworm-slim)
set -euo pipefail

image="${1:-localhost/node:20-bookworm-slim}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
node_bin="$(readlink -f "$(command -v node)")"
node_version="$("$node_bin" --version)"
case "$node_version" in v20.*) ;; *) echo "base: need Node 20 on this machine, found $node_version" >&2; exit 1 ;; esac
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
key="bookworm-minbase/node-$node_version/$(sha256sum "$node_bin" | cut -c1-16)"

if podman image exists "$image" &&
  [ "$(podman image inspect --format '{{index .Config.Labels "app-of-apps.base-key"}}' "$image")" = "$key" ]; then
  echo "base: $image is up to date ($key)"
  exit 0
fi

work="$(mktemp -d /var/tmp/app-of-apps-base.XXXXXX)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
start=$SECONDS

echo "base: debootstrap bookworm minbase from $mirror"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -20 "$work/debootstrap.log" >&2
  exit 1
}

# The same trimming as Debian's slim images, kept for packages installed later too.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CFG
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
rm -rf "$rootfs"/usr/share/{man,groff,info,locale,lintian}/*
cat >"$rootfs/etc/apt/sources.list" <<LIST
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
LIST
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/* "$rootfs"/var/cache/debconf/*-old

# Node and npm where the official image has them.
install -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/usr/local/lib/node_modules"
cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
env -i chroot "$rootfs" /usr/local/bin/node -e 'process.exit(0)' || { echo "base: node does not run in the rootfs" >&2; exit 1; }

tar --numeric-owner -C "$rootfs" -c . | podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=${node_version#v}" \
  --change "LABEL app-of-apps.base-key=$key" \
  --change 'CMD ["node"]' \
  - "$image" >/dev/null
echo "base: $image built in $((SECONDS - start)) s ($key)"
