#!/usr/bin/env bash
# Checks the built image the way Bitbucket uses it: its contents and history, then its entrypoint
# on a shallow clone owned by another uid (plan mode, which deepens the clone from a file://
# origin), a bad variable, and a run with a credential that must leave no trace.
#   usage: test/container/image.test.sh [IMAGE]        (default localhost/app-of-apps-pipe:dev)
#   env:   BASE_IMAGE, the image it was built FROM    (default localhost/node:20-bookworm-slim)
# Ends with "N passed, N failed"; exits non-zero if any check failed.
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
image="${1:-localhost/app-of-apps-pipe:dev}"
base_image="${BASE_IMAGE:-localhost/node:20-bookworm-slim}"
run="$root/scripts/container/run.sh"
build_dir=/opt/atlassian/pipelines/agent/build
storage_in_container=/opt/atlassian/pipelines/agent/pipe-storage
other_uid=1000

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "  ok    $1"; }
bad() { failed=$((failed + 1)); echo "  FAIL  $1"; [ -n "${2:-}" ] && sed 's/^/        /' <<<"$2"; }
check() { local name="$1"; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

tmp="$(mktemp -d /var/tmp/app-of-apps-image-test.XXXXXX)"
ctr=""
ctr2=""
cleanup() {
  [ -n "$ctr" ] && { buildah umount "$ctr" >/dev/null 2>&1; buildah rm "$ctr" >/dev/null 2>&1; }
  [ -n "$ctr2" ] && buildah rm "$ctr2" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT

podman image exists "$image" || { echo "no image $image; run scripts/container/build.sh first" >&2; exit 1; }

echo "== image contents ($image)"
entrypoint="$(podman image inspect --format '{{json .Config.Entrypoint}}' "$image")"
check "ENTRYPOINT runs the bundled pipe: $entrypoint" [ "$entrypoint" = '["/pipe/entrypoint.sh"]' ]
workdir="$(podman image inspect --format '{{.Config.WorkingDir}}' "$image")"
check "working directory is the clone's mount point" [ "$workdir" = "$build_dir" ]

ctr="$(buildah from --pull-never --quiet "$image")"
fs="$(buildah mount "$ctr")"
pinned() { [ "$(sha256sum "$fs/usr/local/bin/$1" | cut -d' ' -f1)" = "$2" ]; }
check "kubectl is the pinned v1.33.9 (sha256)" pinned kubectl 9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22
check "helm is the pinned v4.1.4 (sha256)" pinned helm 210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
check "git is installed" test -x "$fs/usr/bin/git"
check "no AWS CLI" test ! -e "$fs/usr/local/bin/aws" -a ! -e "$fs/usr/bin/aws"
pipe_files="$(cd "$fs/pipe" && ls -A | tr '\n' ' ')"
check "/pipe holds the entry points, the bundle, its source map and its snapshot only ($pipe_files)" \
  [ "$pipe_files" = "entrypoint.sh main.js package.json pipe.blob pipe.cjs pipe.cjs.map " ]
stray_modules="$(find "$fs" -xdev -path "$fs/usr/local/lib/node_modules" -prune -o -type d -name node_modules -print 2>/dev/null)"
check "no node_modules besides the base image's npm" [ -z "$stray_modules" ]
caches="$(find "$fs/root/.npm" "$fs/var/lib/apt/lists" "$fs/var/cache/apt" -type f 2>/dev/null | grep -v '/lock$' | head -5)"
check "no npm or apt caches" [ -z "$caches" ]
check "no build secret left at /run/secrets" test -z "$(ls -A "$fs/run/secrets" 2>/dev/null)"
# the snapshot is the pipe: it starts with the bundle file out of the way
check "the image's Node starts the pipe from its startup snapshot, without the bundle file" \
  [ "$(buildah run --isolation chroot "$ctr" -- sh -c 'mv /pipe/pipe.cjs /pipe/pipe.cjs.away && /pipe/entrypoint.sh --version; mv /pipe/pipe.cjs.away /pipe/pipe.cjs' 2>&1)" = "app-of-apps-pipe $(node -p 'require(process.argv[1]).version' "$root/package.json")" ]
check "with NODE_OPTIONS set (V8 would refuse the snapshot) the entrypoint starts the pipe from the bundle" \
  [ "$(buildah run --isolation chroot -e NODE_OPTIONS=--max-old-space-size=256 "$ctr" -- /pipe/entrypoint.sh --version 2>&1)" = "app-of-apps-pipe $(node -p 'require(process.argv[1]).version' "$root/package.json")" ]

echo "== secrets in layers and history"
history="$(podman history --no-trunc --format '{{.CreatedBy}}' "$image")"
env_of_image="$(podman image inspect --format '{{json .Config.Env}}' "$image")"
secretish='(_authToken|NODE_EXTRA_CA_CERTS=|AWS_SECRET_ACCESS_KEY=|AWS_SESSION_TOKEN=|BITBUCKET_STEP_OIDC_TOKEN=|KUBE_CONFIG=|password=|token=)'
check "history has no credential values" bash -c '! grep -qiE "$1" <<<"$2"' _ "$secretish" "$history"
check "image environment has no credentials ($env_of_image)" bash -c '! grep -qiE "$1" <<<"$2"' _ "$secretish" "$env_of_image"
podman save --quiet --format oci-dir -o "$tmp/oci" "$image"
# Credential shapes: private keys (a PEM header followed by key data: libraries carry the bare
# headers as format strings), AWS access keys, EKS tokens, JWTs, npm tokens. -z lets a match
# span lines.
patterns=(-e '-----BEGIN [A-Z ]*PRIVATE KEY-----[[:space:]]+[A-Za-z0-9+/=]{40}' -e 'AKIA[0-9A-Z]{16}'
  -e 'k8s-aws-v1\.[A-Za-z0-9_-]{20}' -e 'eyJ[A-Za-z0-9_-]{20,}\.eyJ[A-Za-z0-9_-]{20,}\.' -e '_authToken=')
# The base image's layers are Debian's and Node's own (libgnutls, for one, carries public
# self-test keys); the layers this Dockerfile adds, after them in the manifest, are scanned.
base_count="$(podman image inspect --format '{{len .RootFS.Layers}}' "$base_image")"
layers="$(node -e '
  const { readFileSync } = require("fs");
  const dir = process.argv[1];
  const blob = (d) => JSON.parse(readFileSync(`${dir}/blobs/sha256/${d.split(":")[1]}`, "utf8"));
  const manifest = blob(JSON.parse(readFileSync(`${dir}/index.json`, "utf8")).manifests[0].digest);
  console.log(manifest.layers.slice(Number(process.argv[2])).map((l) => l.digest.split(":")[1]).join("\n"));
' "$tmp/oci" "$base_count")"
hits=""
scanned=0
for digest in $layers; do
  blob="$tmp/oci/blobs/sha256/$digest"
  scanned=$((scanned + 1))
  found="$(tar -xOf "$blob" 2>/dev/null | grep -azoE "${patterns[@]}" | tr '\0' '\n' | sort -u | head -3)"
  [ -n "$found" ] && hits+="$digest: $found"$'\n'
done
name="no credential-shaped text in the image's own $scanned layers"
if [ "$scanned" -gt 0 ] && [ -z "$hits" ]; then ok "$name"; else bad "$name" "$hits"; fi

# The origin stands for Bitbucket's server. Running as root, the pipe fetches as the clone's
# owner, and git's upload-pack refuses a file:// origin owned by anyone else, so the origin
# belongs to uid $other_uid too (Bitbucket's HTTPS origin has no owner to refuse).
echo "== plan mode on a shallow clone owned by uid $other_uid (file:// origin)"
node "$root/scripts/example-repo.mjs" native --out "$tmp/origin" >/dev/null
head_sha="$(git -C "$tmp/origin" rev-parse HEAD)"
parent_sha="$(git -C "$tmp/origin" rev-parse HEAD~1)"
git clone --quiet --depth 1 --no-local "file://$tmp/origin" "$tmp/clone"
mkdir -p "$tmp/storage"
chown -R "$other_uid:$other_uid" "$tmp/clone" "$tmp/origin"
touch "$tmp/started"
bitbucket_env=(-e CI=true -e BITBUCKET_COMMIT="$head_sha" -e BITBUCKET_BRANCH=main -e BITBUCKET_BUILD_NUMBER=7
  -e BITBUCKET_REPO_FULL_NAME=acme/shop-gitops-native -e BITBUCKET_WORKSPACE=acme -e BITBUCKET_REPO_SLUG=shop-gitops-native
  -e BITBUCKET_PIPE_STORAGE_DIR="$storage_in_container")
mounts=(-v "$tmp/storage:$storage_in_container" -v "$tmp/origin:$tmp/origin:ro")
out="$("$run" "$image" "$tmp/clone" "${mounts[@]}" "${bitbucket_env[@]}" -e MODE=plan -e ENVIRONMENT=staging 2>&1)"
code=$?
echo "$out" | sed 's/^/        | /'
check "plan exits 0" [ "$code" -eq 0 ]
check "plan prints its result line" grep -q '^✔ Plan: ' <<<"$out"
check "plan compared with the parent commit, fetched by deepening the depth-1 clone" grep -qF "compared with ${parent_sha:0:12} (parent commit)" <<<"$out"
check "git did not refuse the clone (no dubious ownership)" bash -c '! grep -qi "dubious ownership" <<<"$1"' _ "$out"
report="$tmp/storage/app-of-apps-report.json"
check "JSON report written to BITBUCKET_PIPE_STORAGE_DIR" node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1]));process.exit(r.mode==="plan"&&r.build.commit===process.argv[2]?0:1)' "$report" "$head_sha"
status="$(GIT_OPTIONAL_LOCKS=0 git -c safe.directory='*' -C "$tmp/clone" status --porcelain --ignored)"
check "the clone's work tree is untouched (no temp files, no kubeconfig)" [ -z "$status" ]
new_outside_git="$(find "$tmp/clone" -path "$tmp/clone/.git" -prune -o -newer "$tmp/started" -print)"
check "nothing new in the clone outside .git" [ -z "$new_outside_git" ]
# later steps run as the clone's owner and must still be able to write .git after the deepening
foreign_owned="$(find "$tmp/clone" -not -user "$other_uid" | sed "s|$tmp/clone/||" | head -5)"
check "everything in the clone still belongs to uid $other_uid after deepening${foreign_owned:+ (not: $(echo $foreign_owned))}" [ -z "$foreign_owned" ]

echo "== git is trusted for the clone only"
# In one container: the pipe runs, then git is asked about another repository owned by uid
# $other_uid. It must still refuse it: the pipe trusted its clone per call, not in any config.
git init --quiet "$tmp/other" && chown -R "$other_uid:$other_uid" "$tmp/other"
ctr2="$(buildah from --pull-never --quiet "$image")"
buildah run --isolation chroot -v "$tmp/clone:$build_dir" -v "$tmp/origin:$tmp/origin:ro" \
  -e BITBUCKET_CLONE_DIR="$build_dir" -e MODE=plan -e ENVIRONMENT=staging "$ctr2" -- /pipe/entrypoint.sh >/dev/null 2>&1
other_status="$(buildah run --isolation chroot -v "$tmp/other:/other" "$ctr2" -- git -C /other status 2>&1)"
check "after a run, git still refuses another foreign-owned repository" grep -q "dubious ownership" <<<"$other_status"
check "the run wrote no git config (global or system)" \
  bash -c '[ -z "$(buildah run --isolation chroot "$1" -- sh -c "cat \$HOME/.gitconfig /etc/gitconfig 2>/dev/null; true")" ]' _ "$ctr2"
buildah rm "$ctr2" >/dev/null
ctr2=""

echo "== bad input"
out="$("$run" "$image" "$tmp/clone" "${bitbucket_env[@]}" -e MODE=bogus 2>&1)"
code=$?
echo "$out" | sed 's/^/        | /'
check "MODE=bogus exits 2" [ "$code" -eq 2 ]
check "the error names the variable and the allowed values" grep -qE '^✖ MODE: .*deploy, plan, diff' <<<"$out"
out="$("$run" "$image" "$tmp/clone" "${bitbucket_env[@]}" -e MODE=plan -e ROOT_MANIFEST=missing.yaml 2>&1)"
code=$?
check "a missing ROOT_MANIFEST exits 2 and names it" bash -c '[ "$1" -eq 2 ] && grep -q "missing.yaml" <<<"$2"' _ "$code" "$out"

echo "== a credential leaves no trace"
token="app-of-apps-test-token-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
kubeconfig="$(printf '%s\n' 'apiVersion: v1' 'kind: Config' 'clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]' \
  "users: [{name: u, user: {token: $token}}]" 'contexts: [{name: x, context: {cluster: c, user: u}}]' 'current-context: x' | base64 -w0)"
out="$("$run" "$image" "$tmp/clone" "${mounts[@]}" "${bitbucket_env[@]}" -e MODE=deploy -e ENVIRONMENT=staging -e KUBE_CONFIG="$kubeconfig" 2>&1)"
code=$?
echo "$out" | tail -5 | sed 's/^/        | /'
check "deploy to an unreachable cluster fails with exit 1 (got $code)" [ "$code" -eq 1 ]
check "the failure is a clear error naming the cluster, not an internal error" \
  bash -c 'grep -q "^✖ .*127.0.0.1:9" <<<"$1" && ! grep -q "internal error" <<<"$1"' _ "$out"
check "the token is not printed" bash -c '! grep -qF "$1" <<<"$2"' _ "$token" "$out"
check "the token is nowhere in the clone" bash -c '! grep -rqF "$1" "$2"' _ "$token" "$tmp/clone"
check "the token is not in the pipe's storage" bash -c '! grep -rqF "$1" "$2"' _ "$token" "$tmp/storage"
check "the kubeconfig is nowhere in the clone" bash -c '! grep -rqF "$1" "$2"' _ "${kubeconfig:0:40}" "$tmp/clone"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
