"""Requests and a tiny multiple-choice task that several lm-eval tests send through a model."""

from __future__ import annotations

import json
from pathlib import Path

from lm_eval.api.instance import Instance

REQUESTS = [("Question: what is 2+2?\nAnswer:", " 4"), ("The capital of France is", " Paris"), ("abc", "def ghi")]
PROMPTS = ["Once upon a time", "Q: who?\nA:"]

MC_TASK = """\
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{label}}}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
"""


def loglik(lm) -> list[float]:
    """Log-likelihoods of REQUESTS."""
    reqs = [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(REQUESTS)]
    return [ll for ll, _ in lm.loglikelihood(reqs)]


def generate(lm) -> list[str]:
    """Greedy continuations of PROMPTS (12 tokens at most)."""
    args = {"until": ["\n\n"], "max_gen_toks": 12, "do_sample": False}
    reqs = [Instance("generate_until", {}, (p, dict(args)), i) for i, p in enumerate(PROMPTS)]
    return lm.generate_until(reqs)


def write_mc_task(folder: Path, name: str, pairs: list[tuple[int, int]]) -> Path:
    """A task folder for --include_path: "a plus b?" with three choices, the sum first."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"question": f"{a} plus {b}?", "choices": [str(a + b), str(a * b + 1), str(a - b)], "label": 0}
            for a, b in pairs]
    data = folder / f"{name}.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    (folder / f"{name}.yaml").write_text(MC_TASK.format(name=name, data=data))
    return folder
