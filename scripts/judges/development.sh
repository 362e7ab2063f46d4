#!/usr/bin/env bash
# A round's development check: variants of the learned judge's recipe, trained on the earlier rounds and scored
# on the last round's sealed test (already read, so a development set, never a sealed one).
# usage: scripts/judges/development.sh ROUND   (5 or 6; run from the repository root; judges go to runs/judge-dev/)
#   5: with and without pooled models, trained on rounds 1-3, scored on round 4's test -> round5/development/
#   6: with and without the pooled override, trained on rounds 1-4 (the round-5 judge's data), scored on
#      round 5's test -> round6/development/
set -euo pipefail
R=results/judges
round=${1:?usage: scripts/judges/development.sh ROUND (5 or 6)}
train=($R/round3/batch1/train/labelled.jsonl $R/round3/batch2/train/labelled.jsonl $R/round3/sealed_test.jsonl)
dev=($R/round3/batch1/dev/labelled.jsonl $R/round3/batch2/dev/labelled.jsonl)
case $round in
  5) test=$R/round4/sealed_test.jsonl
     variants=(pooled-none:--pooled= pooled-degenerate:--pooled=degenerate
               pooled-degenerate-declined:--pooled=degenerate,declined)
     fixed=(--override-margins=) ;;  # round 5's recipe had no overrides
  6) train+=($R/round4/sealed_test.jsonl) test=$R/round5/sealed_test.jsonl
     variants=(override-none:--override-margins= override-cv:--override-margins=0,0.5,1,1.5,2)
     fixed=() ;;
  *) echo "development.sh: no development check for round $round (5 or 6)" >&2; exit 2 ;;
esac
out=$R/round$round/development
mkdir -p "$out"
for variant in "${variants[@]}"; do
  name=${variant%%:*} option=${variant#*:}
  python scripts/judges/train.py runs/judge-dev/$name --train "${train[@]}" --dev "${dev[@]}" \
    --extra-train $R/heldout/labelled.jsonl $R/heldout2/labelled.jsonl "${fixed[@]}" "$option"
  hneuron-eval judge-check --judge learned --judge-path runs/judge-dev/$name --labels "$test" \
    --out "$out/$name" --force
done
