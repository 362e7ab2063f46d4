"""Balanced, disjoint train/test selection from judged samples, with every dropped question counted."""

from __future__ import annotations

from typing import Any

import numpy as np

from hneuron_eval.errors import HNeuronError
from hneuron_eval.identify.sampling import label_counts
from hneuron_eval.judges import normalize_answer


class TooFewSamplesError(HNeuronError, ValueError):
    """Not enough consistent faithful / hallucinated questions for a balanced set."""


class OverlapError(HNeuronError, ValueError):
    """Train and test share a question."""


def balance(records: list[dict[str, Any]], seed: int, per_class: int | None = None, min_per_class: int = 1,
            what: str = "set", hint: str = "") -> dict[str, Any]:
    """Pick the same number of faithful and hallucinated questions (seeded); error with the counts when too few."""
    counts = label_counts(records)
    empty = [r["id"] for r in records if r["label"] in ("faithful", "hallucinated") and not r["responses"][0]["ids"]]
    by = {
        lab: [r["id"] for r in records if r["label"] == lab and r["id"] not in set(empty)]
        for lab in ("faithful", "hallucinated")
    }
    have = min(len(by["faithful"]), len(by["hallucinated"]))
    n = have if per_class is None else min(per_class, have)
    if n < min_per_class or (per_class is not None and have < per_class):
        need = per_class or min_per_class
        raise TooFewSamplesError(
            f"{what}: found {len(by['faithful'])} faithful and {len(by['hallucinated'])} hallucinated questions "
            f"({counts['mixed']} mixed, {counts['abstained']} with an abstention) among {len(records)} questions; "
            f"need at least {need} of each for a balanced set. {hint}".rstrip()
        )
    rng = np.random.default_rng(seed)
    chosen = {lab: sorted(rng.choice(ids, size=n, replace=False).tolist()) if n else [] for lab, ids in by.items()}
    dropped = {"mixed": counts["mixed"], "abstained": counts["abstained"], "empty_response": len(empty),
               "not_needed_for_balance": len(by["faithful"]) + len(by["hallucinated"]) - 2 * n}
    return {"faithful": chosen["faithful"], "hallucinated": chosen["hallucinated"], "per_class": n,
            "label_counts": counts, "dropped": dropped, "questions": len(records)}


def check_disjoint(train: list[dict[str, Any]], test: list[dict[str, Any]]) -> None:
    """Raise if any id or normalised question text occurs in both lists."""
    ids = {r["id"] for r in train} & {r["id"] for r in test}
    texts = {normalize_answer(r["question"]) for r in train} & {normalize_answer(r["question"]) for r in test}
    if ids or texts:
        example = sorted(ids or texts)[0]
        raise OverlapError(f"train and test share {len(ids)} ids and {len(texts)} question texts (e.g. {example!r})")
