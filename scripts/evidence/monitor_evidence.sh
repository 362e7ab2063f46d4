#!/usr/bin/env bash
# Evidence run of the in-harness detector: an identification run's H-neuron detector and its random-neuron
# controls watch the same lm_eval generations; writes results/monitor/<model>/ (lm-eval output, RUN.txt, summary).
# usage: scripts/evidence/monitor_evidence.sh <model> <identification folder> <limit> [lm_eval args...]
# e.g.   scripts/evidence/monitor_evidence.sh smollm2-135m-instruct results/identify/smollm2-135m-instruct-large 2000 --apply_chat_template
# Records the command, versions, wall and CPU seconds and peak memory in RUN.txt, then writes
# summary.md/.json with scripts/monitor_report.py.
set -euo pipefail
. "$(dirname "$0")/_run_record.sh"
model=$1; run=$2; limit=$3; shift 3
out=results/monitor/$model
mkdir -p "$out"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
cmd=(lm_eval --model hneuron-hf
     --model_args "pretrained=$model,detector=$run/detectors/h-neurons,detector_controls=$run/detectors/[!h]*;$run/probe"
     --tasks "${TASKS:-hn_triviaqa,hn_nq_open}" --limit "$limit" --batch_size "${BATCH_SIZE:-64}" --seed 0
     --log_samples --output_path "$out/lm_eval" "$@")
record_run "$out/RUN.txt" "$out/lm_eval.log" "${cmd[@]}"
python scripts/relativize_paths.py "$out" > /dev/null
python scripts/monitor_report.py "$out/lm_eval/$model" --out "$out/summary"
