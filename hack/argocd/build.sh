#!/usr/bin/env bash
# Builds Argo CD's application controller and repo server (one multi-call binary, cmd/argocd, that
# runs Argo CD's own commands; linked as argocd-application-controller and argocd-repo-server) into
# $1 (default bin/argocd at the repository root) from the Go module proxy, at the version go.mod
# pins, and copies Argo CD's CRDs (manifests/crds of the same module version) into $1/crds for the
# sandbox. A binary already present is kept, so a second run costs nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../bin/argocd}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$here"

version=$(go list -m -f '{{.Version}}' github.com/argoproj/argo-cd/v3)
ver_pkg=github.com/argoproj/argo-cd/v3/common
ldflags="-s -w -X ${ver_pkg}.version=${version#v} -X ${ver_pkg}.gitTreeState=clean -X ${ver_pkg}.buildDate=1970-01-01T00:00:00Z"

if [ ! -x "$out/argocd" ]; then
  echo "building argocd-application-controller and argocd-repo-server (github.com/argoproj/argo-cd/v3@${version})"
  start=$(date +%s)
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/argocd.tmp" ./cmd/argocd
  mv "$out/argocd.tmp" "$out/argocd"
  echo "built in $(( $(date +%s) - start ))s"
fi
for name in argocd-application-controller argocd-repo-server argocd-git-ask-pass; do
  ln -sf argocd "$out/$name"
done
# The module's directory exists only once it is downloaded (go list -m leaves Dir empty before).
src=$(go mod download -json github.com/argoproj/argo-cd/v3 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$src" ] || [ ! -d "$src/manifests/crds" ]; then
  echo "hack/argocd/build.sh: no manifests/crds in github.com/argoproj/argo-cd/v3@${version} (module dir '${src}')" >&2
  exit 1
fi
mkdir -p "$out/crds"
for f in "$src"/manifests/crds/*-crd.yaml; do
  install -m 0644 "$f" "$out/crds/"
done
echo "Argo CD ${version} application controller, repo server and CRDs in $out"
