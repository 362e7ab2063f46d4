#!/usr/bin/env bash
# Back-to-back cost of the task group before and after the budgets of issue 8, same machine, same
# documents: SmolLM2-135M-Instruct (chat), --tasks hneuron --limit 50 (LIMIT=N to change), hneuron-hf
# without a mask. "before" runs the package and task suite of commit d6a2d37 (budgets 64-384 tokens):
# a git worktree under runs/ put first on PYTHONPATH, so its own autoload registers its tasks and
# model; "after" runs this checkout. Then tasks_cost.py compares them into results/budgets/.
# usage: scripts/evidence/tasks_cost_runs.sh   (about 15 minutes on 2 cores; nothing else should run)
set -euo pipefail
cd "$(dirname "$0")/.."
limit=${LIMIT:-50}
old=runs/hneuron-eval-d6a2d37
[ -d "$old" ] || git worktree add -q "$old" d6a2d37
args=(--model hneuron-hf --model_args pretrained=smollm2-135m-instruct,dtype=float32 --apply_chat_template)
PYTHONPATH="$old" scripts/evidence/tasks_evidence.sh "budgets_before_limit$limit" "$limit" "${args[@]}"
echo "env_extra: PYTHONPATH=$old (the package and tasks of $(git -C "$old" rev-parse --short HEAD))" \
  >> "results/tasks/budgets_before_limit$limit/RUN.txt"
scripts/evidence/tasks_evidence.sh "budgets_after_limit$limit" "$limit" "${args[@]}"
git worktree remove --force "$old"
for side in before after; do
  rm -rf "results/budgets/budgets_${side}_limit$limit"
  mv "results/tasks/budgets_${side}_limit$limit" results/budgets/
done
python scripts/tasks_cost.py "results/budgets/cost_limit$limit" smollm2-135m-instruct \
  "results/budgets/budgets_before_limit$limit" "results/budgets/budgets_after_limit$limit"
