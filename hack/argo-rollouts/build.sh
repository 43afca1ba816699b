#!/usr/bin/env bash
# Builds the Argo Rollouts controller (cmd/rollouts-controller) into $1 (default bin/argo-rollouts
# at the repository root) from the Go module proxy, at the version go.mod pins, and copies Argo
# Rollouts' CRDs (manifests/crds of the same module version) into $1/crds for the sandbox.
# A binary already present is kept, so a second run costs nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../bin/argo-rollouts}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$here"

version=$(go list -m -f '{{.Version}}' github.com/argoproj/argo-rollouts)
# go mod download, not go list -m: on a cold module cache the latter gives an empty Dir.
src=$(go mod download -json github.com/argoproj/argo-rollouts | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$src" ] || [ ! -d "$src/manifests/crds" ]; then
  echo "hack/argo-rollouts/build.sh: no manifests/crds in github.com/argoproj/argo-rollouts@${version} (module dir '${src}')" >&2
  exit 1
fi
ver_pkg=github.com/argoproj/argo-rollouts/utils/version
ldflags="-s -w -X ${ver_pkg}.version=${version#v} -X ${ver_pkg}.gitTreeState=clean -X ${ver_pkg}.buildDate=1970-01-01T00:00:00Z"

if [ ! -x "$out/rollouts-controller" ]; then
  echo "building rollouts-controller (github.com/argoproj/argo-rollouts@${version})"
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/rollouts-controller.tmp" github.com/argoproj/argo-rollouts/cmd/rollouts-controller
  mv "$out/rollouts-controller.tmp" "$out/rollouts-controller"
fi
mkdir -p "$out/crds"
for f in "$src"/manifests/crds/*-crd.yaml; do
  install -m 0644 "$f" "$out/crds/"
done
echo "Argo Rollouts ${version} controller and CRDs in $out"
