#!/usr/bin/env bash
# Builds the local control plane into $1 (default bin/k8s at the repository root): etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler and kubectl, from the Go module proxy;
# or only the binaries named after $1 (make demo needs no kubectl).
# A binary already present is kept, so a second run costs nothing.
#
# The missing binaries are built by one `go build -o DIR pkg...`: one build graph, so the two
# cores stay busy to the end and the links run beside the last compiles. No -trimpath and Go's
# own CGO_ENABLED default, and go.mod requires the controller module's versions of the modules
# both compile (align.sh keeps them so): the packages the tests and the demo share with the control
# plane (k8s.io/api, apimachinery, client-go and what they import) then land in Go's build cache
# the way those builds look them up, and are not compiled again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../bin/k8s}
shift || true
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$here"

all=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${all[@]}")
pkg_of() {
  case $1 in
    etcd) echo go.etcd.io/etcd/server/v3 ;;
    kube-apiserver | kube-controller-manager | kube-scheduler | kubectl) echo "k8s.io/kubernetes/cmd/$1" ;;
    *) echo "hack/tools/build.sh: unknown binary $1 (one of ${all[*]})" >&2; exit 2 ;;
  esac
}
missing=()
pkgs=()
for name in "${names[@]}"; do
  pkg=$(pkg_of "$name")
  if [ ! -x "$out/$name" ]; then missing+=("$name"); pkgs+=("$pkg"); fi
done
[ ${#missing[@]} -gt 0 ] || exit 0

k8s_version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
etcd_version=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
minor=${k8s_version#v}
minor=${minor#*.}
minor=${minor%%.*}
major=${k8s_version#v}
major=${major%%.*}
# The version each binary reports: Kubernetes' in component-base (and client-go's copy, which
# kubectl reports), etcd's in its api module. A -X for a package a binary does not link is ignored.
ldflags="-s -w"
for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags="$ldflags -X $v.gitVersion=$k8s_version -X $v.gitMajor=$major -X $v.gitMinor=$minor"
  ldflags="$ldflags -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
done
ldflags="$ldflags -X go.etcd.io/etcd/api/v3/version.Version=${etcd_version#v}"

echo "== Building the local Kubernetes control plane (${k8s_version}, etcd ${etcd_version}) into $out:"
echo "   ${missing[*]}, from the Go module proxy, in one go build."
echo "   This happens once: a binary already in $out is kept. With empty Go caches on 2 cores it"
echo "   took 5.5 minutes here in a first make demo (327 s; 8.5 on a busier machine) and 4.5 in a"
echo "   first make test, whose go vet has compiled the Kubernetes libraries by then. Progress:"
start=$SECONDS
# The packages not in Go's build cache yet (those the tests, vet or lint compiled are there already):
# go build -v names each as it compiles it.
total=$(go list -deps -f '{{if .Stale}}stale{{end}}' "${pkgs[@]}" | grep -c stale || true)
echo "   $total packages to compile, then 1 link per binary."
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# A line of progress every tenth of them.
go build -v -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}" 2>&1 | {
  n=0 step=$(( (total + 9) / 10 ))
  [ "$step" -gt 0 ] || step=1
  next=$step
  while IFS= read -r line; do
    case $line in
      *" "* | "") echo "$line" ;; # an error or go's own message, not a package path
      *) n=$((n + 1))
        if [ "$n" -ge "$next" ]; then
          echo "   compiled $n of $total packages ($((100 * n / (total > 0 ? total : 1)))%), $((SECONDS - start)) s"
          next=$((next + step))
        fi ;;
    esac
  done
}
echo "   compiled, linked in $((SECONDS - start)) s"
for name in "${missing[@]}"; do
  pkg=$(pkg_of "$name")
  # go build -o DIR names a binary after its package's last element, before a /vN suffix.
  base=${pkg##*/}
  [[ $base =~ ^v[0-9]+$ ]] && base=$(basename "${pkg%/*}")
  mv "$tmp/$base" "$out/$name"
  echo "   $name: $(du -h "$out/$name" | cut -f1)"
done
echo "control plane binaries in $out"
