#!/usr/bin/env bash
# Renders a protscope report in headless Chromium (Debian's `chromium`, installed when missing)
# through playwright-core (installed into ~/.cache/protscope/node when missing) and saves
# screenshots; fails on console errors or any network request.
# Usage: scripts/render-report.sh REPORT.html OUT_PREFIX
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
report="$1"; prefix="$2"
if ! command -v chromium >/dev/null; then
  echo "installing Debian's chromium" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2
fi
tools="${PROTSCOPE_CACHE:-$HOME/.cache/protscope}/node"
if [ ! -d "$tools/node_modules/playwright-core" ]; then
  mkdir -p "$tools"
  (cd "$tools" && npm install --silent --no-audit --no-fund playwright-core@1 >&2)
fi
cp "$here/render-report.mjs" "$tools/render-report.mjs"
NODE_PATH="$tools/node_modules" node "$tools/render-report.mjs" "$report" "$prefix"
