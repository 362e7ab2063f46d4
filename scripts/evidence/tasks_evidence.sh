#!/usr/bin/env bash
# Evidence run of the full hneuron group on one offline model; writes results/tasks/<name>/.
# usage: [TASKS=<task or group>] scripts/evidence/tasks_evidence.sh <name> <limit> <lm_eval args...>  (TASKS defaults to hneuron)
# e.g.   scripts/evidence/tasks_evidence.sh smollm2-135m-instruct_chat_limit50 50 --model hneuron-hf \
#          --model_args pretrained=smollm2-135m-instruct,dtype=float32 --apply_chat_template
set -euo pipefail
. "$(dirname "$0")/_run_record.sh"
name=$1; limit=$2; shift 2
out=results/tasks/$name
mkdir -p "$out"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
cmd=(lm_eval "$@" --device cpu --tasks "${TASKS:-hneuron}" --limit "$limit" --batch_size 64 --seed 0 --log_samples --output_path "$out")
# CPU seconds and peak memory next to the wall time
record_run "$out/RUN.txt" "$out/lm_eval.log" "${cmd[@]}"
# lm-eval records the task configs' absolute paths: make them relative to the checkout
python scripts/relativize_paths.py "$out" > /dev/null
# the results table lm_eval printed (last lines of its log)
{ echo "command: ${cmd[*]}"; echo; awk '/^\|/' "$out/lm_eval.log"; } > "$out/table.md"
