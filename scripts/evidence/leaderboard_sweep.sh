#!/usr/bin/env bash
# Evidence sweep of one offline model with its identified mask; writes results/leaderboard/sweeps/<model>/.
# usage: scripts/evidence/leaderboard_sweep.sh <model> <limit|samples=FILE> [hneuron-eval sweep args...]
# e.g.   scripts/evidence/leaderboard_sweep.sh smollm2-135m-instruct 160 --apply-chat-template
#        (samples=FILE: the documents of a --samples file instead of the first <limit> of each task)
# OUT=<folder> overrides the output folder (default results/leaderboard/sweeps/<model>).
# Records the command, versions, wall and CPU seconds and peak memory in RUN.txt next to the sweep.
set -euo pipefail
. "$(dirname "$0")/_run_record.sh"
model=$1; limit=$2; shift 2
case $limit in samples=*) docs=(--samples "${limit#samples=}") ;; *) docs=(--limit "$limit") ;; esac
out=${OUT:-results/leaderboard/sweeps/$model}
mkdir -p "$(dirname "$out")"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
cmd=(hneuron-eval sweep --model "$model" --mask "masks/$model.hneurons.json" --alphas "${ALPHAS:-0,1,2,3}"
     --controls "${CONTROLS:-3}" --tasks "${TASKS:-hn_selfaware,hn_falseqa,hn_triviaqa}" "${docs[@]}"
     --batch-size 64 --seed 0 --out "$out" "$@")
record_run "$out.RUN.txt" "$out.log" "${cmd[@]}"
python scripts/relativize_paths.py "$out" "$out.log" "$out.RUN.txt" > /dev/null
