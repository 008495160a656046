#!/usr/bin/env bash
# Builds kvcheck, the linearizability checker (main.go, Porcupine from the Go module proxy).
#
#   test/linearizability/build.sh                 build if missing, print the binary's path last
#   test/linearizability/build.sh --print-bin-dir print the bin dir the sources map to; build nothing
#
# Output: <repo>/.cache/linearizability/<key>/bin/kvcheck (git-ignored). <key> hashes the Go
# sources, go.mod, go.sum, this script and the Go version, so an edit builds into a new folder
# and a second run with nothing changed returns at once. See docs/linearizability.md.
set -euo pipefail

tool_dir="$(cd "$(dirname "$0")" && pwd)"
repo_root="$(cd "$tool_dir/../.." && pwd)"

hash_inputs() {
  (cd "$tool_dir" && cat build.sh go.mod go.sum ./*.go)
  go env GOVERSION GOOS GOARCH 2>/dev/null || echo "no-go"
}
key="$(hash_inputs | sha256sum | cut -c1-16)"
bin_dir="$repo_root/.cache/linearizability/$key/bin"

if [ "${1:-}" = "--print-bin-dir" ]; then
  echo "$bin_dir"
  exit 0
fi

if [ -x "$bin_dir/kvcheck" ]; then
  echo "kvcheck: cached" >&2
  echo "$bin_dir/kvcheck"
  exit 0
fi

command -v go >/dev/null 2>&1 || { echo "kvcheck: go is not on PATH (Go >= 1.22 needed)" >&2; exit 1; }
mkdir -p "$bin_dir"
started=$(date +%s)
# Written under a temporary name and renamed, so a concurrent or interrupted run never leaves a
# half-written binary where a finished one is expected.
tmp="$bin_dir/.kvcheck.tmp.$$"
(cd "$tool_dir" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -mod=readonly -trimpath -ldflags="-s -w" -o "$tmp" .)
mv -f "$tmp" "$bin_dir/kvcheck"
echo "kvcheck: built in $(( $(date +%s) - started )) s" >&2

# Folders of earlier sources are dead weight: keep only this one.
for stale in "$repo_root/.cache/linearizability"/*/; do
  [ "${stale%/}" = "$(dirname "$bin_dir")" ] || rm -rf "${stale%/}"
done

echo "$bin_dir/kvcheck"
