#!/usr/bin/env bash
# Compiles protscope with `--features cuda` on a machine without a GPU, and links a CUDA build of
# the `protscope` binary that can be carried to a GPU machine (see scripts/gpu-check.sh).
#
# The CUDA 13.0 toolkit pieces come from PyPI wheels (nvcc with its NVVM and CRT parts, runtime, CCCL headers, cuBLAS,
# cuRAND, NVRTC; about 600 MB of downloads) and are unpacked once into
# $PROTSCOPE_CACHE/cuda-13.0 (default ~/.cache/protscope; 1.2 GB). candle links the CUDA driver library
# at build time; there is none without a driver, so a stub libcuda.so is generated from the
# symbols cudarc calls (the real libcuda.so.1 of the GPU machine's driver is used at run time).
#
# Version 13.0 on purpose: candle's kernels are compiled to PTX that the driver JIT-compiles,
# and a driver only accepts PTX from a toolkit no newer than itself.
#
# Usage: scripts/check-cuda.sh [--no-binary]
# Result: `cargo check --features cuda --all-targets` passes, and (unless --no-binary)
#         $CARGO_TARGET_DIR/cuda/protscope is the linked CUDA binary (protscope.gz: the same,
#         compressed for carrying).
set -euo pipefail
cd "$(dirname "$0")/.."

build_binary=1
[[ "${1:-}" == "--no-binary" ]] && build_binary=0

cache="${PROTSCOPE_CACHE:-$HOME/.cache/protscope}"
root="$cache/cuda-13.0"
wheels="$cache/cuda-wheels"
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
python="${PYTHON:-python3}"

packages=(
  nvidia-cuda-nvcc==13.0.88
  nvidia-cuda-crt==13.0.88
  nvidia-nvvm==13.0.88
  nvidia-cuda-runtime==13.0.96
  nvidia-cuda-cccl==13.0.85
  nvidia-cuda-nvrtc==13.0.88
  nvidia-cublas==13.0.2.14
  nvidia-curand==10.4.0.35
)

install_toolkit() {
  echo "CUDA toolkit: downloading ${#packages[@]} wheels into $wheels"
  mkdir -p "$wheels"
  "$python" -m pip download --quiet --no-deps --dest "$wheels" "${packages[@]}"
  local staging="$root.partial"
  rm -rf "$staging"
  mkdir -p "$staging"
  for wheel in "$wheels"/*.whl; do
    "$python" -m zipfile -e "$wheel" "$staging/unpacked"
  done
  # Every wheel installs under nvidia/cu13/{bin,include,lib}.
  mv "$staging/unpacked/nvidia/cu13/"* "$staging/"
  rm -rf "$staging/unpacked"
  chmod +x "$staging/bin/"* "$staging/nvvm/bin/"* 2>/dev/null || true
  # The linker looks for the unversioned names.
  (cd "$staging/lib" && for lib in lib*.so.*; do
    base="${lib%%.so.*}.so"
    [[ -e "$base" ]] || ln -s "$lib" "$base"
  done)
  rm -rf "$root"
  mv "$staging" "$root"
  # The unpacked toolkit is what is kept; the wheels would only double the cache (600 MB).
  rm -rf "$wheels"
}

# Driver stub: every cu* entry point cudarc's driver bindings load, under the driver's soname so
# that the binary asks for the real libcuda.so.1 at run time. Each returns
# CUDA_ERROR_NO_DEVICE (100), so with the stub on LD_LIBRARY_PATH the binary behaves as on a
# machine with a driver but no GPU (how the "no device" error is tested here).
write_driver_stub() {
  local bindings stubs="$root/lib/stubs"
  bindings="$(cargo metadata --format-version 1 --locked --features cuda 2>/dev/null |
    "$python" -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="cudarc"))')"
  bindings="$(dirname "$bindings")/src/driver/sys/mod.rs"
  mkdir -p "$stubs"
  grep -o 'load::<_F>("cu[A-Za-z0-9_]*")' "$bindings" | sed 's/.*("\(.*\)")/int \1(void) { return 100; }/' |
    sort -u >"$stubs/libcuda_stub.c"
  cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$stubs/libcuda.so" "$stubs/libcuda_stub.c"
  ln -sf libcuda.so "$stubs/libcuda.so.1"
  echo "CUDA toolkit: $(wc -l <"$stubs/libcuda_stub.c") driver entry points stubbed"
}

start=$SECONDS
if [[ ! -x "$root/bin/nvcc" ]]; then
  install_toolkit
fi
if [[ ! -f "$root/lib/stubs/libcuda.so" ]]; then
  write_driver_stub
fi
echo "CUDA toolkit: $("$root/bin/nvcc" --version | tail -2 | head -1) in $root ($((SECONDS - start)) s)"

export CUDA_HOME="$root" CUDA_PATH="$root" CUDA_ROOT="$root"
export PATH="$root/bin:$PATH"
export CUDARC_CUDA_VERSION=13000
# H100/H200 (sm_90); candle compiles its kernels for this one architecture.
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
# Nothing else: cudarc adds $CUDA_HOME/lib and lib/stubs to the link search path and nvcc finds
# its headers from its own folder. CPATH, LIBRARY_PATH or RUSTFLAGS would make cargo rebuild
# every C-based dependency (the cc crate tracks CPATH and LIBRARY_PATH) and everything above it,
# here and again in the next CPU build that shares the target folder.

start=$SECONDS
cargo check --locked --features cuda --all-targets
echo "cargo check --features cuda --all-targets: $((SECONDS - start)) s"

if [[ "$build_binary" == 1 ]]; then
  start=$SECONDS
  # The dev profile: in this project it is optimised (dependencies at opt-level 2-3, protscope
  # at 2, no debug info) and shares the test build's compiled dependencies.
  cargo build --locked --features cuda --bin protscope
  mkdir -p "$target_dir/cuda"
  cp "$target_dir/debug/protscope" "$target_dir/cuda/protscope.partial"
  mv "$target_dir/cuda/protscope.partial" "$target_dir/cuda/protscope"
  # Compressed for carrying to a GPU machine (about a third of the size).
  gzip -1 -c "$target_dir/cuda/protscope" >"$target_dir/cuda/protscope.gz.partial"
  mv "$target_dir/cuda/protscope.gz.partial" "$target_dir/cuda/protscope.gz"
  echo "CUDA binary: $target_dir/cuda/protscope ($(du -m "$target_dir/cuda/protscope" | cut -f1) MB," \
    "$((SECONDS - start)) s); needs at run time:"
  ldd "$target_dir/cuda/protscope" | grep -E "cuda|cublas|curand|nvrtc" || true
fi
