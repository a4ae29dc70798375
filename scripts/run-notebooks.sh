#!/usr/bin/env bash
# Usage: scripts/run-notebooks.sh [NOTEBOOK.ipynb ...]   (default: every notebooks/*.ipynb)
# Executes the notebooks in the evcxr Rust kernel, headless and in order, and writes
# the executed notebooks as HTML under target/notebooks/. Fails on a cell error or a panic.
#
# Installs what is missing into caches under $HOME/.cache/protscope (reused by later runs):
#   evcxr/         evcxr_jupyter (cargo install, about 11 min cold)
#   jupyter-venv/  nbconvert + nbclient (Python venv)
#   jupyter-data/  the evcxr kernelspec
#   evcxr-tmp/     evcxr's build folder: protscope's dependencies are compiled there once
#                  (about 12 min cold); evcxr ignores the project's Cargo.lock, target/ and
#                  [profile]s, so without a persistent folder every run starts cold.
# Overridable: PROTSCOPE_NOTEBOOK_CACHE (the cache root), NOTEBOOK_TIMEOUT (seconds per cell).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${PROTSCOPE_NOTEBOOK_CACHE:-$HOME/.cache/protscope}"
cell_timeout="${NOTEBOOK_TIMEOUT:-1800}"
evcxr_version=0.22.0
out="$root/target/notebooks"

evcxr_root="$cache/evcxr"
venv="$cache/jupyter-venv"
export JUPYTER_DATA_DIR="$cache/jupyter-data"
export JUPYTER_PATH="$JUPYTER_DATA_DIR"
export EVCXR_TMPDIR="$cache/evcxr-tmp"
export EVCXR_CONFIG_DIR="$cache/evcxr-config"

if [[ "$(cat "$evcxr_root/.crates.toml" 2>/dev/null)" != *"evcxr_jupyter $evcxr_version"* ]]; then
    echo "installing evcxr_jupyter $evcxr_version into $evcxr_root (about 11 min cold)"
    CARGO_INSTALL_ROOT="$evcxr_root" cargo install --locked "evcxr_jupyter@$evcxr_version"
fi
if [[ ! -x "$venv/bin/jupyter-nbconvert" ]]; then
    echo "creating the Jupyter venv in $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "nbconvert==7.17.2" "nbclient==0.11.0"
fi
export PATH="$evcxr_root/bin:$venv/bin:$PATH"
if [[ ! -f "$JUPYTER_DATA_DIR/kernels/rust/kernel.json" ]]; then
    # evcxr_jupyter --install writes the kernelspec into JUPYTER_DATA_DIR (here: the cache).
    evcxr_jupyter --install
fi

# evcxr loads each cell as a shared library linked to the toolchain's libstd. Its RUNPATH is
# relative and one level off when evcxr's folder and the toolchain share a parent (both under
# $HOME here): dlopen fails unless the loader finds libstd through LD_LIBRARY_PATH.
sysroot="$(rustc --print sysroot)"
export LD_LIBRARY_PATH="$sysroot/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# Every cell is its own shared library with its own copy of the dependencies' thread-locals; a
# later cell's dlopen then failed ("dlopen failed", cell 10 of notebook 03) once glibc's static
# TLS reserve was used up. A larger reserve (bytes) keeps later cells loadable.
export GLIBC_TUNABLES="glibc.rtld.optional_static_tls=65536${GLIBC_TUNABLES:+:$GLIBC_TUNABLES}"

# A panic inside a cell is caught by evcxr and does not fail the cell unless variables are
# dropped on panic; the output check below catches any panic that still slips through.
mkdir -p "$EVCXR_CONFIG_DIR" "$EVCXR_TMPDIR" "$out"
echo ":preserve_vars_on_panic 0" >"$EVCXR_CONFIG_DIR/init.evcxr"

if [[ $# -gt 0 ]]; then
    notebooks=("$@")
else
    notebooks=("$root"/notebooks/*.ipynb)
fi
status=0
for notebook in "${notebooks[@]}"; do
    name="$(basename "$notebook" .ipynb)"
    started=$SECONDS
    echo "== $name"
    executed="$out/$name.ipynb"
    if ! jupyter nbconvert --to notebook --execute \
        --ExecutePreprocessor.kernel_name=rust \
        --ExecutePreprocessor.timeout="$cell_timeout" \
        --output-dir "$out" --output "$name.ipynb" "$notebook"; then
        echo "FAILED: $name (a cell raised an error; see above)"
        status=1
        continue
    fi
    if ! jupyter nbconvert --to html --output-dir "$out" "$executed" 2>/dev/null; then
        echo "FAILED: $name (HTML export)"
        status=1
        continue
    fi
    if grep -q "panicked at" "$executed"; then
        echo "FAILED: $name (a cell panicked):"
        grep -o "panicked at[^\"]*" "$executed" | head -5
        status=1
        continue
    fi
    echo "ok: $name in $((SECONDS - started)) s -> $out/$name.html"
done
exit $status
