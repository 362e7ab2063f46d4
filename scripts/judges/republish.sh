#!/usr/bin/env bash
# After a judge change: re-score every published run with it, then regenerate every table made from them.
# usage: scripts/judges/republish.sh [judge] [BEFORE_DIR]   (run from the repository root)
# BEFORE_DIR, when given, first receives copies of the leaderboards as they stand (LEADERBOARD.md and
# leaderboard.csv of each), so that a round's README can show them before and after.
set -euo pipefail
# the checkout's own environment (make install) when there is one, so that its python and hneuron-eval are used
if [[ -x .venv/bin/hneuron-eval ]]; then PATH="$PWD/.venv/bin:$PATH"; fi
judge=${1:-learned}
before=${2:-}
L=results/leaderboard
T=results/tasks
A=$T/ablation_smollm2-135m-instruct
declare -A tables=([three_tasks]=$L [four_tasks]=$L/four_tasks [fresh_seven_tasks]=$L/fresh_seven_tasks [ablation]=$A)
if [[ -n $before ]]; then
  for name in "${!tables[@]}"; do
    mkdir -p "$before/$name"
    cp "${tables[$name]}/LEADERBOARD.md" "${tables[$name]}/leaderboard.csv" "$before/$name/"
  done
fi
scripts/judges/rescore_published.sh "$judge"
for run in $T/*_limit*; do
  python scripts/tasks_rescore.py "$run" "$judge"
done
python scripts/tasks_readme.py
hneuron-eval leaderboard $L/sweeps/smollm2-135m-instruct $L/sweeps/gemma-3-270m --out $L \
  --title 'H-neuron leaderboard: SmolLM2-135M-Instruct and Gemma-3-270M, with and without the intervention' --force
hneuron-eval leaderboard $L/sweeps/smollm2-135m-instruct-4tasks $L/sweeps/gemma-3-270m-4tasks --out $L/four_tasks \
  --title 'H-neuron leaderboard, the other four tasks: jailbreak, sycophancy, NonExist, NQ-Open (SmolLM2-135M-Instruct and Gemma-3-270M)' --force
hneuron-eval leaderboard results/judges/round4/sweeps/smollm2-135m-instruct results/judges/round4/sweeps/gemma-3-270m \
  --out $L/fresh_seven_tasks --force \
  --title "H-neuron leaderboard on fresh documents, all seven tasks (the judges' round-4 sweeps: SmolLM2-135M-Instruct and Gemma-3-270M)"
hneuron-eval leaderboard $T/smollm2-135m-instruct_chat_limit400_overcompliance_nomask \
  $T/smollm2-135m-instruct_chat_limit400_overcompliance_H-alpha0 $T/smollm2-135m-instruct_chat_limit400_overcompliance_random-alpha0 \
  $T/smollm2-135m-instruct_chat_limit400_overcompliance_H-alpha2 --out $A --no-plots --force \
  --title 'H-neuron ablation check: SmolLM2-135M-Instruct, SelfAware and FalseQA at --limit 400'
python scripts/monitor_report.py results/monitor/smollm2-135m-instruct/lm_eval/smollm2-135m-instruct \
  --out results/monitor/smollm2-135m-instruct/summary
