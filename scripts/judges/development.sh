#!/usr/bin/env bash
# Round 5's development check: the learned judge's recipe with and without pooled models, trained on rounds 1-3
# and scored on round 4's sealed test (already read, so a development set, never a sealed one); without the
# pooled overrides, which came in round 6.
# usage: scripts/judges/development.sh   (run from the repository root; judges go to runs/judge-dev/)
set -euo pipefail
R=results/judges
out=$R/round5/development
mkdir -p "$out"
train=($R/round3/batch1/train/labelled.jsonl $R/round3/batch2/train/labelled.jsonl $R/round3/sealed_test.jsonl)
dev=($R/round3/batch1/dev/labelled.jsonl $R/round3/batch2/dev/labelled.jsonl)
for variant in none:'' degenerate:degenerate degenerate-declined:degenerate,declined; do
  name=${variant%%:*} pooled=${variant#*:}
  python scripts/judges/train.py runs/judge-dev/$name --train "${train[@]}" --dev "${dev[@]}" \
    --extra-train $R/heldout/labelled.jsonl $R/heldout2/labelled.jsonl --pooled "$pooled" --override-margins=
  hneuron-eval judge-check --judge learned --judge-path runs/judge-dev/$name --labels $R/round4/sealed_test.jsonl \
    --out "$out/pooled-$name" --force
done
