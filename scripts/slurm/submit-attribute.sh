#!/usr/bin/env bash
# Queues integrated gradients over a FASTA file as a SLURM job array of N GPU tasks
# (attribute-array.sh) and a merge job that starts when every task has succeeded and writes
# one table (protscope merge).
#
# Usage: MODEL=DIR FASTA=F OUT=FOLDER HEAD=H TARGET=C scripts/slurm/submit-attribute.sh N [MERGED]
#   N       number of shards (array tasks 0..N-1)
#   MERGED  merged table (default $OUT.parquet; the summary goes to $OUT.summary.parquet)
# Other settings as in attribute-array.sh (STEPS, DEVICE, LATENT, ...), passed on with
# --export=ALL. Extra sbatch options: SBATCH_ARGS="--partition=gpu --account=lab".
set -euo pipefail
cd "$(dirname "$0")"

n="${1:?usage: submit-attribute.sh N [MERGED]}"
: "${OUT:?set OUT to the output folder}"
merged="${2:-${OUT%/}.parquet}"
protscope="${PROTSCOPE:-protscope}"
# shellcheck disable=SC2086  # SBATCH_ARGS holds several options on purpose
array_job=$(sbatch --parsable ${SBATCH_ARGS:-} --array="0-$((n - 1))" --export=ALL attribute-array.sh)
echo "array job $array_job: $n shards into $OUT/"
# shellcheck disable=SC2086
merge_job=$(sbatch --parsable ${SBATCH_ARGS:-} --dependency="afterok:$array_job" \
    --job-name=protscope-merge --cpus-per-task=2 --mem=16G --time=1:00:00 \
    --output=protscope-merge-%j.log \
    --wrap="\"$protscope\" merge --input \"$OUT\" --out \"$merged\"")
echo "merge job $merge_job (after $array_job): $merged"
