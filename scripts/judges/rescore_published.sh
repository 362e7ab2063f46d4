#!/usr/bin/env bash
# Re-score every published lm-eval run of the suite with one judge (default: learned), in place.
# usage: scripts/judges/rescore_published.sh [judge]   (run from the repository root)
set -euo pipefail
judge=${1:-learned}
T=results/tasks
S=results/leaderboard/sweeps
hneuron-eval rescore --in-place --judge "$judge" \
  $T/smollm2-135m-instruct_chat_limit200 $T/gemma-3-270m_fewshot_limit200 \
  $T/smollm2-135m-instruct_chat_limit400_overcompliance_nomask $T/smollm2-135m-instruct_chat_limit400_overcompliance_H-alpha0 \
  $T/smollm2-135m-instruct_chat_limit400_overcompliance_H-alpha2 $T/smollm2-135m-instruct_chat_limit400_overcompliance_random-alpha0 \
  $S/smollm2-135m-instruct $S/gemma-3-270m $S/smollm2-135m-instruct-4tasks $S/gemma-3-270m-4tasks \
  results/monitor/smollm2-135m-instruct/lm_eval \
  results/judges/round4/sweeps/smollm2-135m-instruct results/judges/round4/sweeps/gemma-3-270m \
  results/judges/round5/sweeps/smollm2-135m-instruct results/judges/round5/sweeps/gemma-3-270m
