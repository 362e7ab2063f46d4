#!/usr/bin/env bash
# Evidence sweep of one offline model with its identified mask; writes results/leaderboard/sweeps/<model>/.
# usage: benchmarks/leaderboard_sweep.sh <model> <limit> [hneuron-eval sweep args...]
# e.g.   benchmarks/leaderboard_sweep.sh smollm2-135m-instruct 160 --apply-chat-template
# Records the command, versions, wall and CPU seconds and peak memory in RUN.txt next to the sweep.
set -euo pipefail
model=$1; limit=$2; shift 2
out=results/leaderboard/sweeps/$model
mkdir -p "$(dirname "$out")"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
cmd=(hneuron-eval sweep --model "$model" --mask "masks/$model.hneurons.json" --alphas "${ALPHAS:-0,1,2,3}"
     --controls "${CONTROLS:-3}" --tasks "${TASKS:-hn_selfaware,hn_falseqa,hn_triviaqa}" --limit "$limit"
     --batch-size 64 --seed 0 --out "$out" "$@")
log=$out.RUN.txt
{
  echo "command: ${cmd[*]}"
  echo "env: OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset} nice=$(nice)"
  echo "date_start_utc: $(date -u +%FT%TZ)"
  python -c "import lm_eval, torch, transformers, datasets; print('versions: lm_eval', lm_eval.__version__, '| torch', torch.__version__, '| transformers', transformers.__version__, '| datasets', datasets.__version__)"
  echo "git: $(git rev-parse --short HEAD) (uncommitted changes in $(git status --porcelain -- hneuron_eval tasks | wc -l) files of hneuron_eval/ and tasks/)"
} > "$log"
start=$(date +%s)
/usr/bin/time -a -o "$log" -f "cpu_user_seconds: %U\ncpu_system_seconds: %S\nmax_rss_kb: %M" "${cmd[@]}" > "$out.log" 2>&1
end=$(date +%s)
echo "date_end_utc: $(date -u +%FT%TZ)" >> "$log"
echo "wall_seconds: $((end - start))" >> "$log"
python benchmarks/relativize_paths.py "$out" "$out.log" "$log" > /dev/null
