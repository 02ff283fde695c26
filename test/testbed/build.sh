#!/usr/bin/env bash
# Builds the test bed's binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kwok) from the Go modules pinned in this folder's go.mod/go.sum, into a cache directory keyed by
# the hash of go.mod, go.sum and this script. Prints that directory on stdout; a cached build is
# reused. Needs only Go and the Go module proxy.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/app-of-apps-pipe/testbed}"
key="$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" | sha256sum | cut -c1-16)"
out="$cache_root/$key"
bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

complete() {
  local b
  for b in "${bins[@]}"; do [[ -x "$out/$b" ]] || return 1; done
}

if complete; then
  echo "$out"
  exit 0
fi

if ! command -v go >/dev/null; then
  echo "building the test bed needs Go 1.24 or later on PATH (or TESTBED_ASSETS=<dir with the binaries>); see docs/testbed.md" >&2
  exit 1
fi
k8s_version="$(cd "$here" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
minor="$(echo "$k8s_version" | cut -d. -f2)"
# Same version stamping as Kubernetes' hack/lib/version.sh, so `kubectl version` and the
# components report the real release instead of v0.0.0-master.
vflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  vflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  vflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

mkdir -p "$cache_root"
staging="$(mktemp -d "$cache_root/.build.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

# -p bounds compile parallelism: CI and developer machines have 2 shared cores.
export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
build() {
  local name="$1" pkg="$2" start
  start=$(date +%s)
  (cd "$here" && go build -p "${TESTBED_BUILD_JOBS:-2}" -trimpath -ldflags "-s -w$vflags" -o "$staging/$name" "$pkg")
  echo "built $name in $(( $(date +%s) - start ))s" >&2
}
build etcd go.etcd.io/etcd/server/v3
build kwok sigs.k8s.io/kwok/cmd/kwok
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver

rm -rf "$out"
mv "$staging" "$out"
trap - EXIT
echo "$out"
