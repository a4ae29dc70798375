#!/usr/bin/env bash
# Vendors the molecular viewer the views inline (crates/protscope/src/view): 3Dmol.js, pinned,
# from npm, its minified build and its licence copied into crates/protscope/assets/js/. Run once
# when the pin changes and commit both files; builds never reach the network.
# Usage: scripts/vendor-js.sh
set -euo pipefail
version=2.5.5
here="$(cd "$(dirname "$0")" && pwd)"
dest="$here/../crates/protscope/assets/js"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "3dmol@$version" >/dev/null && tar xzf "3dmol-$version.tgz")
mkdir -p "$dest"
cp "$work/package/build/3Dmol-min.js" "$dest/3Dmol-min.js"
cp "$work/package/LICENSE" "$dest/3Dmol-LICENSE.txt"
echo "$version" >"$dest/3Dmol-VERSION"
sha256sum "$dest/3Dmol-min.js"
