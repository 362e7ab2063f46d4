#!/usr/bin/env bash
# Evidence run of the full hneuron group on one offline model; writes results/tasks/<name>/.
# usage: [TASKS=<task or group>] benchmarks/tasks_evidence.sh <name> <limit> <lm_eval args...>  (TASKS defaults to hneuron)
# e.g.   benchmarks/tasks_evidence.sh smollm2-135m-instruct_chat_limit50 50 --model hneuron-hf \
#          --model_args pretrained=smollm2-135m-instruct,dtype=float32 --apply_chat_template
set -euo pipefail
name=$1; limit=$2; shift 2
out=results/tasks/$name
mkdir -p "$out"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
cmd=(lm_eval "$@" --device cpu --tasks "${TASKS:-hneuron}" --limit "$limit" --batch_size 64 --seed 0 --log_samples --output_path "$out")
{
  echo "command: ${cmd[*]}"
  echo "env: OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset} nice=$(nice)"
  echo "date_start_utc: $(date -u +%FT%TZ)"
  python -c "import lm_eval, torch, transformers, datasets; print('versions: lm_eval', lm_eval.__version__, '| torch', torch.__version__, '| transformers', transformers.__version__, '| datasets', datasets.__version__)"
  echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo 'no commit yet') (uncommitted changes in $(git status --porcelain -- hneuron_eval tasks 2>/dev/null | wc -l) files of hneuron_eval/ and tasks/)"
} > "$out/RUN.txt"
start=$(date +%s)
# CPU seconds and peak memory next to the wall time (GNU time appends them to RUN.txt)
/usr/bin/time -a -o "$out/RUN.txt" -f "cpu_user_seconds: %U\ncpu_system_seconds: %S\nmax_rss_kb: %M" "${cmd[@]}" > "$out/lm_eval.log" 2>&1
end=$(date +%s)
echo "date_end_utc: $(date -u +%FT%TZ)" >> "$out/RUN.txt"
echo "wall_seconds: $((end - start))" >> "$out/RUN.txt"
# lm-eval records the task configs' absolute paths: make them relative to the checkout
python benchmarks/relativize_paths.py "$out" > /dev/null
# the results table lm_eval printed (last lines of its log)
{ echo "command: ${cmd[*]}"; echo; awk '/^\|/' "$out/lm_eval.log"; } > "$out/table.md"
