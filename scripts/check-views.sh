#!/usr/bin/env bash
# Browser test of the interactive views (crates/protscope/src/view): builds two pages with the
# `protscope` binary from random-weight models (no download) and a committed antibody structure,
# then opens them in headless Chromium with software WebGL (SwiftShader) through playwright-core
# (as scripts/render-report.sh) and checks: no console error, no request but the file and
# data:/blob: URIs, every canvas drawn and not blank, switching layer/head changes the picture,
# the 1,000-residue attention view (30 layers × 16 heads) opens and redraws within the stated
# times, and the demo report's views (the tiny model's demo). Screenshots go to OUT (default
# views-check/).
# Usage: scripts/check-views.sh [OUT]   (PROTSCOPE_BIN: the binary; default: cargo build's)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
out="$(mkdir -p "${1:-views-check}" && cd "${1:-views-check}" && pwd)"
bin="${PROTSCOPE_BIN:-}"
if [ -z "$bin" ]; then
  (cd "$root" && cargo build --quiet)
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/protscope"
fi
if ! command -v chromium >/dev/null; then
  echo "installing Debian's chromium" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2
fi
tools="${PROTSCOPE_CACHE:-$HOME/.cache/protscope}/node"
if [ ! -d "$tools/node_modules/playwright-core" ]; then
  mkdir -p "$tools"
  (cd "$tools" && npm install --silent --no-audit --no-fund playwright-core@1 >&2)
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$SECONDS
# The 3D view: a heavy chain of the demo's structures, 2 layers × 4 heads. Random weights give
# near-uniform attention (about 1/122 per pair), hence the low θ and floor.
"$bin" dev random-model --preset protbert --layers 2 --heads 4 --hidden 32 --intermediate 64 \
  --seed 3 --out "$work/tiny" >/dev/null
"$bin" view --model "$work/tiny" --structure "$root/data/structures/antibodies/7b0b_HL.pdb" \
  --chain H --layer 0 --head 0 --min-attn 0.008 --theta 0.008 --floor 0 --top-k 4 \
  --bfactor-out "$work/bfactor.pdb" --colour-by regions --out "$out/structure-view.html"
# The attention view of a 1,000-residue protein in ProtBert's shape of heads (30 × 16), narrow.
"$bin" dev random-model --preset protbert --heads 16 --hidden 64 --intermediate 128 \
  --max-positions 1026 --seed 5 --out "$work/long" >/dev/null
python3 - "$work/long.fasta" <<'PY'
import random, sys
random.seed(7)
seq = "".join(random.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(1000))
open(sys.argv[1], "w").write(">long1000\n" + seq + "\n")
PY
"$bin" view --model "$work/long" --fasta "$work/long.fasta" --floor 0 --top-k 4 \
  --out "$out/attention-1000.html"
# The demo's report on the tiny AntiBERTy-shaped fixture (a few seconds): its interactive views.
"$bin" demo --model "$root/tests/fixtures/models/antiberty_tiny" \
  --fasta "$root/data/antibodies_171.fasta" --structures "$root/data/structures/antibodies" \
  --limit 10 --steps 4 --max-len 60 --min-total 5 --out "$work/demo" >/dev/null 2>&1
cp "$work/demo/report.html" "$out/demo-report.html"
echo "pages built in $((SECONDS - start)) s"
grep -q "^ATOM" "$work/bfactor.pdb"
cp "$here/check-views.mjs" "$tools/check-views.mjs"
NODE_PATH="$tools/node_modules" node "$tools/check-views.mjs" "$out"
