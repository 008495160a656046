#!/usr/bin/env bash
# Builds the real Kubernetes control-plane binaries the test suite runs (the envtest pattern):
# etcd, kube-apiserver, kubectl and helm, from the Go modules pinned beside this script.
#
#   test/k8s/tools/build.sh                 build what is missing, print the bin dir last
#   test/k8s/tools/build.sh --print-bin-dir print the bin dir the pinned versions map to; build nothing
#
# Output goes to <repo>/.cache/k8s-tools/<key>/bin/ (git-ignored). <key> is a hash of every
# go.mod and go.sum here, this script and the Go version, so changing a pinned version builds
# into a new folder and a second run with nothing changed returns at once.
# If KUBEBUILDER_ASSETS names a folder holding etcd, kube-apiserver and kubectl, those are used
# and nothing is built (helm is built only when that folder has none).
# See docs/k8s-test-harness.md for the versions and the measured build time.
set -euo pipefail

tools_dir="$(cd "$(dirname "$0")" && pwd)"
repo_root="$(cd "$tools_dir/../../.." && pwd)"
kube_version="v1.34.4" # must match kube/go.mod; stamped into the binaries' version info

# The stamped versions above and below must be the ones go.mod pins.
grep -qE "k8s.io/kubernetes $kube_version( |$)" "$tools_dir/kube/go.mod" ||
  { echo "k8s-tools: kube/go.mod does not pin k8s.io/kubernetes $kube_version" >&2; exit 1; }

hash_inputs() {
  (cd "$tools_dir" && cat build.sh kube/go.mod kube/go.sum etcd/go.mod etcd/go.sum helm/go.mod helm/go.sum)
  go env GOVERSION GOOS GOARCH 2>/dev/null || echo "no-go" # KUBEBUILDER_ASSETS may make Go unneeded
}
key="$(hash_inputs | sha256sum | cut -c1-16)"
bin_dir="$repo_root/.cache/k8s-tools/$key/bin"

if [ "${1:-}" = "--print-bin-dir" ]; then
  echo "$bin_dir"
  exit 0
fi

assets_complete() {
  [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ] &&
    [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] && [ -x "$KUBEBUILDER_ASSETS/kubectl" ]
}

# build_one NAME MODULE_DIR PACKAGE [LDFLAGS_EXTRA]: builds one binary unless it is already there.
# The binary is written under a temporary name and renamed, so a concurrent or interrupted run
# never leaves a half-written file where a finished one is expected.
build_one() {
  local name="$1" module="$2" package="$3" ldflags_extra="${4:-}"
  if [ -x "$bin_dir/$name" ]; then
    echo "k8s-tools: $name: cached"
    return 0
  fi
  local started tmp
  started=$(date +%s)
  tmp="$bin_dir/.$name.tmp.$$"
  (cd "$tools_dir/$module" &&
    CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -mod=readonly -trimpath \
      -ldflags="-s -w $ldflags_extra" -o "$tmp" "$package")
  mv -f "$tmp" "$bin_dir/$name"
  echo "k8s-tools: $name: built in $(( $(date +%s) - started )) s"
}

if assets_complete; then
  echo "k8s-tools: using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
  if [ -x "$KUBEBUILDER_ASSETS/helm" ]; then
    echo "$KUBEBUILDER_ASSETS"
    exit 0
  fi
fi

command -v go >/dev/null 2>&1 || { echo "k8s-tools: go is not on PATH (Go >= 1.26 needed)" >&2; exit 1; }
mkdir -p "$bin_dir"
total_started=$(date +%s)

# The apiserver and kubectl report this version on /version; helm and kubectl parse it, and the
# default (v0.0.0-master) would make helm's kubeVersion checks meaningless.
version_pkg="k8s.io/component-base/version"
client_version_pkg="k8s.io/client-go/pkg/version"
kube_ldflags=""
for pkg in "$version_pkg" "$client_version_pkg"; do
  kube_ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1"
  kube_ldflags+=" -X $pkg.gitMinor=$(echo "$kube_version" | cut -d. -f2) -X $pkg.gitTreeState=clean"
  kube_ldflags+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

if ! assets_complete; then
  build_one etcd etcd go.etcd.io/etcd/server/v3
  build_one kube-apiserver kube k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
  build_one kubectl kube k8s.io/kubernetes/cmd/kubectl "$kube_ldflags"
fi
# helm's release build stamps its own version and the Kubernetes minor of its client libraries
# (helm/go.mod: k8s.io/* v0.34.x), which `helm template` and `helm lint` assume without a cluster.
helm_version="v3.19.5" # must match helm/go.mod
grep -qE "helm.sh/helm/v3 $helm_version( |$)" "$tools_dir/helm/go.mod" ||
  { echo "k8s-tools: helm/go.mod does not pin helm.sh/helm/v3 $helm_version" >&2; exit 1; }
helm_ldflags="-X helm.sh/helm/v3/internal/version.version=$helm_version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=34"
done
build_one helm helm helm.sh/helm/v3/cmd/helm "$helm_ldflags"

# Folders of earlier pins are dead weight (~240 MB each): keep only this one.
for stale in "$repo_root/.cache/k8s-tools"/*/; do
  [ "${stale%/}" = "$(dirname "$bin_dir")" ] || rm -rf "${stale%/}"
done

echo "k8s-tools: done in $(( $(date +%s) - total_started )) s"
# With KUBEBUILDER_ASSETS, only helm is in this folder; the caller takes the rest from the assets.
echo "$bin_dir"
