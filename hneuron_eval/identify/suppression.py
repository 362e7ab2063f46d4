"""The paper's second C criterion: TriviaQA task accuracy with a candidate probe's H-neurons suppressed (alpha = 0)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hneuron_eval.identify.questions import Question
from hneuron_eval.identify.sampling import Sampler, SamplingConfig


def suppressed_accuracy(model: Any, tokenizer: Any, questions: list[Question], neurons: list[tuple[int, int]],
                        model_name: str, path: str | Path, batch_size: int, max_new_tokens: int) -> float:
    """Greedy accuracy on ``questions`` while ``neurons`` are scaled to 0 (records kept in ``path`` for resuming)."""
    from hneuron_eval.core.intervention import scale_neurons
    from hneuron_eval.core.masks import NeuronMask

    mask = NeuronMask.for_model(model, neurons, name=model_name)
    sampler = Sampler(
        model,
        tokenizer,
        SamplingConfig(samples=1, temperature=0.0, batch_size=batch_size, max_new_tokens=max_new_tokens),
    )
    with scale_neurons(model, mask, alpha=0.0):
        records = sampler.run(questions, path, f"suppressed ({len(neurons)} neurons)")
    return sum(r["responses"][0]["judgement"] == "correct" for r in records) / max(1, len(records))
