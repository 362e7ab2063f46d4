#!/usr/bin/env bash
# The published evidence runs (results/tasks/), one after another on the whole machine (2 threads each):
# the full hneuron group at --limit 200 on both offline models and the four SelfAware + FalseQA
# --limit 400 ablation runs on SmolLM2 (no mask, H-neurons at alpha 0 and 2, a random control at alpha 0).
# About 45 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
ev=scripts/evidence/tasks_evidence.sh
smol=pretrained=smollm2-135m-instruct,dtype=float32
mask=masks/smollm2-135m-instruct.hneurons.json
random=masks/smollm2-135m-instruct.random-seed0.hneurons.json
$ev gemma-3-270m_fewshot_limit200 200 --model hneuron-hf --model_args pretrained=gemma-3-270m,dtype=float32
TASKS=hn_selfaware,hn_falseqa $ev smollm2-135m-instruct_chat_limit400_overcompliance_nomask 400 \
  --model hneuron-hf --model_args $smol --apply_chat_template
TASKS=hn_selfaware,hn_falseqa $ev smollm2-135m-instruct_chat_limit400_overcompliance_H-alpha0 400 \
  --model hneuron-hf --model_args $smol,mask=$mask,alpha=0 --apply_chat_template
TASKS=hn_selfaware,hn_falseqa $ev smollm2-135m-instruct_chat_limit400_overcompliance_H-alpha2 400 \
  --model hneuron-hf --model_args $smol,mask=$mask,alpha=2 --apply_chat_template
TASKS=hn_selfaware,hn_falseqa $ev smollm2-135m-instruct_chat_limit400_overcompliance_random-alpha0 400 \
  --model hneuron-hf --model_args $smol,mask=$random,alpha=0 --apply_chat_template
$ev smollm2-135m-instruct_chat_limit200 200 --model hneuron-hf --model_args $smol --apply_chat_template
