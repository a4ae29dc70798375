#!/usr/bin/env bash
# GPU parity and speed check, for a machine with an NVIDIA GPU and driver, Python with torch,
# transformers and captum, no network and possibly no Rust. Takes the CUDA build of protscope
# that scripts/check-cuda.sh links ($CARGO_TARGET_DIR/cuda/protscope), and:
#   1. runs predict, attention and attribute (embedding; latent with the exact and the
#      finite-difference derivative) on the committed tiny models (BERT, ESM-2, AntiBERTy-shaped)
#      and on AntiBERTy, once with --device cuda and once with --device cpu, and compares every
#      number (f32: at most 1e-4 relative to the largest magnitude of its column);
#   2. times integrated gradients on the GPU against Captum on the same GPU, equal steps and
#      batch (scripts/bench_captum.py), embedding level and all-layer latent;
#   3. writes OUT/gpu-check.json and OUT/gpu-check.md.
# Budget: under 8 minutes on an H100/H200.
#
# Usage: scripts/gpu-check.sh PROTSCOPE_CUDA_BINARY[.gz] ANTIBERTY_DIR [OUT_DIR [OPTIONS]]
#   OPTIONS go to scripts/gpu_check.py; `--gpu-device cpu --no-timing` is a dry run without a GPU
#   (the generic op path against the CPU kernels, with the CUDA binary).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -lt 2 ]]; then
  echo "usage: $0 PROTSCOPE_CUDA_BINARY ANTIBERTY_DIR [OUT_DIR]" >&2
  exit 2
fi
binary="$1"
antiberty="$2"
out="${3:-gpu-check-out}"
shift $(($# < 3 ? $# : 3))
python="${PYTHON:-python3}"

[[ -f "$binary" ]] || { echo "error: $binary not found (build it with scripts/check-cuda.sh)" >&2; exit 2; }
[[ -f "$antiberty/config.json" ]] || { echo "error: $antiberty has no config.json (an AntiBERTy folder from \`protscope fetch antiberty\`)" >&2; exit 2; }

mkdir -p "$out"
if [[ "$binary" == *.gz ]]; then
  gunzip -c "$binary" >"$out/protscope"
  chmod +x "$out/protscope"
  binary="$out/protscope"
fi

# The binary asks the dynamic loader for the driver (libcuda.so.1) and the CUDA 13 libraries
# (cuBLAS, cuRAND, NVRTC, runtime); PyTorch's CUDA wheels bring the latter.
if ! ldconfig -p 2>/dev/null | grep -q "libcuda.so.1" && [[ -z "${LD_LIBRARY_PATH:-}" ]]; then
  echo "error: no NVIDIA driver library (libcuda.so.1) on this machine: it has no usable GPU" >&2
  exit 2
fi
cuda_libs="$("$python" - <<'EOF'
import glob, os, sys
dirs = set()
for base in sys.path:
    for lib in glob.glob(os.path.join(base, "nvidia", "*", "lib", "lib*.so*")):
        dirs.add(os.path.dirname(lib))
    for lib in glob.glob(os.path.join(base, "torch", "lib", "libcudart*.so*")):
        dirs.add(os.path.dirname(lib))
print(":".join(sorted(dirs)))
EOF
)"
export LD_LIBRARY_PATH="${cuda_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
missing="$(ldd "$binary" 2>/dev/null | grep "not found" || true)"
if [[ -n "$missing" ]]; then
  echo "error: $binary needs libraries this machine lacks (install PyTorch's CUDA 13 wheels or the toolkit):" >&2
  echo "$missing" >&2
  exit 2
fi

mkdir -p "$out"
start=$SECONDS
"$python" scripts/gpu_check.py --binary "$binary" --antiberty "$antiberty" --out "$out" "$@"
echo "gpu-check: $((SECONDS - start)) s; summary in $out/gpu-check.md"
