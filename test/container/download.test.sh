#!/usr/bin/env bash
# The Dockerfile's default way to get kubectl and helm (TOOLS_SOURCE=download), which cannot
# reach dl.k8s.io or get.helm.sh from here: the same build stage against a local HTTPS server
# (its own CA, passed like a proxy's) that serves the pinned kubectl and a release-style helm
# tarball. Checks that a good download builds, and that a wrong sum or version fails the build.
#   usage: test/container/download.test.sh       env: BASE_IMAGE (default localhost/node:20-bookworm-slim)
# Ends with "N passed, N failed"; exits non-zero if any check failed.
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
base="${BASE_IMAGE:-localhost/node:20-bookworm-slim}"
passed=0
failed=0
check() { local name="$1"; shift; if "$@"; then passed=$((passed + 1)); echo "  ok    $name"; else failed=$((failed + 1)); echo "  FAIL  $name"; fi; }

tmp="$(mktemp -d /var/tmp/app-of-apps-download-test.XXXXXX)"
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$tmp"' EXIT

[ -x "$root/.tools/bin/kubectl" ] && [ -x "$root/.tools/bin/helm" ] || (cd "$root" && node scripts/install-tools.mjs) >/dev/null
mkdir -p "$tmp/www/linux-amd64"
cp "$root/.tools/bin/kubectl" "$tmp/www/kubectl"
cp "$root/.tools/bin/helm" "$tmp/www/linux-amd64/helm"
tar -C "$tmp/www" -czf "$tmp/www/helm.tar.gz" linux-amd64/helm
tarball_sum="$(sha256sum "$tmp/www/helm.tar.gz" | cut -d' ' -f1)"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
cat "${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}" "$tmp/cert.pem" >"$tmp/ca.pem"
node -e '
  const [dir, key, cert] = process.argv.slice(1);
  const server = require("https").createServer({ key: require("fs").readFileSync(key), cert: require("fs").readFileSync(cert) }, (req, res) => {
    require("fs").readFile(dir + req.url, (err, body) => { res.writeHead(err ? 404 : 200); res.end(err ? "" : body); });
  });
  server.listen(0, "127.0.0.1", () => console.log(server.address().port));
  setTimeout(() => process.exit(0), 600000).unref();
' "$tmp/www" "$tmp/key.pem" "$tmp/cert.pem" >"$tmp/port" &
server=$!
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
url="https://127.0.0.1:$(cat "$tmp/port")"

build() {
  podman --cgroup-manager=cgroupfs build --isolation=chroot --target tools --no-cache \
    --secret "id=ca-certificates,src=$tmp/ca.pem" \
    --build-arg BASE_IMAGE="$base" --build-arg TOOLS_SOURCE=download \
    --build-arg KUBECTL_URL="$url/kubectl" --build-arg HELM_URL="$url/helm.tar.gz" \
    --build-arg HELM_TARBALL_SHA256="$tarball_sum" \
    -t localhost/app-of-apps-download-test -f "$root/Dockerfile" "$@" "$root" >"$tmp/log" 2>&1
}

echo "== TOOLS_SOURCE=download from $url"
build
code=$?
check "downloads, checks the sums and versions, and builds" [ "$code" -eq 0 ]
check "the helm tarball's sum was checked" grep -q "helm.tar.gz ok (sha256 $tarball_sum)" "$tmp/log"
check "the extracted helm binary's sum is printed beside HELM_BINARY_SHA256" grep -q 'install-tools: helm binary sha256 210d576a' "$tmp/log"
[ "$code" -eq 0 ] || tail -20 "$tmp/log"

build --build-arg KUBECTL_SHA256=1111111111111111111111111111111111111111111111111111111111111111
check "a kubectl sum mismatch fails the build" bash -c '[ "$1" -ne 0 ] && grep -q "kubectl has sha256 9e33e323.*refusing it" "$2"' _ $? "$tmp/log"
build --build-arg HELM_TARBALL_SHA256=2222222222222222222222222222222222222222222222222222222222222222
check "a helm tarball sum mismatch fails the build" bash -c '[ "$1" -ne 0 ] && grep -q "helm.tar.gz has sha256 .*refusing it" "$2"' _ $? "$tmp/log"
build --build-arg HELM_VERSION=v4.0.0
check "a binary that is not the pinned version fails the build" [ $? -ne 0 ]

podman rmi -f localhost/app-of-apps-download-test >/dev/null 2>&1
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
