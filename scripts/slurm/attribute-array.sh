#!/usr/bin/env bash
# One task of a SLURM job array: integrated gradients for shard $SLURM_ARRAY_TASK_ID of
# $SLURM_ARRAY_TASK_COUNT of a FASTA file, on one GPU. Submit with submit-attribute.sh (which
# also queues the merge), or by hand:
#
#   sbatch --array=0-9 --export=ALL,MODEL=/models/prot_bert,FASTA=proteome.fasta,OUT=ig,HEAD=classifier,TARGET=1 \
#       scripts/slurm/attribute-array.sh
#
# Every task writes $OUT/shard-IIII-of-NNNN.parquet and .summary.parquet. A protein's shard is
# the 64-bit FNV-1a hash of its FASTA id mod N, so a re-run (or a re-queued task) computes the
# same split; `attribute` is resumable, so a task killed at its time limit continues where it
# stopped when it runs again (MAX_PROTEINS caps the proteins one task computes per run).
#
# Settings (environment): MODEL, FASTA, OUT, HEAD, TARGET (required); STEPS (default auto, with
# MAX_DELTA 0.01 and MAX_STEPS 1024), METHOD (gausslegendre), LATENT (1 = all-head relevance
# with the exact latent derivative, default 1), DEVICE (cuda), DTYPE (f32), MAX_LEN,
# MAX_PROTEINS, MEMORY_BUDGET (e.g. 60G; default 60 % of the node's memory), PROTSCOPE (the
# binary; default `protscope` on PATH).
#SBATCH --job-name=protscope-ig
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=4
#SBATCH --mem=32G
#SBATCH --time=12:00:00
#SBATCH --output=protscope-ig-%A_%a.log
set -euo pipefail

: "${MODEL:?set MODEL to the model folder}"
: "${FASTA:?set FASTA to the protein sequences}"
: "${OUT:?set OUT to the output folder}"
: "${HEAD:?set HEAD to the prediction head (e.g. classifier)}"
: "${TARGET:?set TARGET to the class index or label}"
: "${SLURM_ARRAY_TASK_ID:?run as a job array: sbatch --array=0-(N-1) ...}"
: "${SLURM_ARRAY_TASK_COUNT:?run as a job array: sbatch --array=0-(N-1) ...}"

protscope="${PROTSCOPE:-protscope}"
args=(attribute --model "$MODEL" --fasta "$FASTA" --output "$HEAD" --target "$TARGET"
      --device "${DEVICE:-cuda}" --dtype "${DTYPE:-f32}"
      --method "${METHOD:-gausslegendre}"
      --shard "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" --out "$OUT")
steps="${STEPS:-auto}"
args+=(--steps "$steps")
if [[ "$steps" == auto ]]; then
    args+=(--max-delta "${MAX_DELTA:-0.01}" --max-steps "${MAX_STEPS:-1024}")
fi
[[ "${LATENT:-1}" == 1 ]] && args+=(--latent --latent-derivative exact)
[[ -n "${MAX_LEN:-}" ]] && args+=(--max-len "$MAX_LEN")
[[ -n "${MAX_PROTEINS:-}" ]] && args+=(--max-proteins "$MAX_PROTEINS")
[[ -n "${MEMORY_BUDGET:-}" ]] && args+=(--memory-budget "$MEMORY_BUDGET")

echo "shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT on $(hostname): $protscope ${args[*]}"
exec "$protscope" "${args[@]}"
