#!/usr/bin/env bash
# Raises hack/tools's requirements to the controller module's versions of the modules both use
# (golang.org/x/*, k8s.io/utils, gnostic-models, ...). With the same versions (and build.sh's
# flags, the ones go test and go build use), the packages the two share (k8s.io/api, apimachinery,
# client-go and what they import) compile once: the control plane build leaves them in Go's build
# cache for the tests and the demo. Run it after changing the controller's go.mod; it prints
# what it raised, nothing when they agree. Modules only one side compiles may differ.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
list() { go list -m -f '{{if not .Replace}}{{.Path}} {{.Version}}{{end}}' all | sort; }
# the modules whose packages the control plane build compiles, at their versions here
built() {
  join <(go list -deps -f '{{with .Module}}{{.Path}}{{end}}' go.etcd.io/etcd/server/v3 k8s.io/kubernetes/cmd/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl} | sort -u) <(list)
}
ups=()
while read -r path want have; do
  # only raise: a lower version there (kustomize for its own kubectl) is not ours to lower here
  if [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | tail -1)" = "$want" ]; then ups+=("$path@$want"); fi
done < <(join <(cd "$here/../.." && list) <(cd "$here" && built) | awk 'NF == 3 && $2 != $3')
[ ${#ups[@]} -gt 0 ] || exit 0
cd "$here"
go get "${ups[@]}"
go mod tidy
