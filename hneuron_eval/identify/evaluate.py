"""Stage 4: detection accuracy and AUROC with bootstrap CIs, H-neurons against random-neuron controls."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hneuron_eval.core.probe import HNeuronProbe
from hneuron_eval.core.stats import N_BOOT, SEED, auroc, auroc_ci, wilson_ci
from hneuron_eval.identify.fitting import training_rows


def bootstrap_metrics(labels: np.ndarray, scores: np.ndarray, n_boot: int = N_BOOT, seed: int = SEED) -> dict[str, Any]:
    """Accuracy (threshold 0 on the logit) with its Wilson CI and AUROC with its bootstrap CI (``core.stats``).

    The intervals are the detector's in lm-eval (``detector_accuracy_ci_*``, ``detector_auroc_ci_*``).
    """
    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, dtype=np.float64)
    n = len(labels)
    pos, neg = scores[labels == 1], scores[labels == 0]
    both = len(pos) > 0 and len(neg) > 0
    hits = int(((scores > 0).astype(int) == labels).sum())
    acc_ci = wilson_ci(hits, n)
    auc_ci = auroc_ci(pos, neg, n_boot, seed) if both else (math.nan, math.nan)
    interval = lambda ci: None if any(math.isnan(x) for x in ci) else [ci[0], ci[1]]  # noqa: E731
    return {"n": n, "n_hallucinated": int(labels.sum()), "accuracy": hits / n if n else float("nan"),
            "accuracy_ci95": interval(acc_ci), "auroc": auroc(pos, neg) if both else None,
            "auroc_ci95": interval(auc_ci) if both else None}


def subset_probe(features: np.ndarray, train_answer: np.ndarray, train_other: np.ndarray, train_labels: np.ndarray,
                 contrast: str, C: float = 1.0) -> HNeuronProbe:
    """The comparison detector: L2 logistic regression on standardised CETT of a fixed neuron set."""
    X, y = training_rows(train_answer, train_other, train_labels, contrast)
    return HNeuronProbe(C=C, penalty="l2", features=np.asarray(features), standardize=True).fit(X, y)


def compare_on(sets: dict[str, tuple[np.ndarray, np.ndarray]], probe: HNeuronProbe, h_probe: HNeuronProbe,
               random_probes: list[HNeuronProbe], n_boot: int, seed: int) -> dict[str, Any]:
    """For each evaluation set (answer features, labels): the full probe, the H-neuron refit and each random refit."""
    out: dict[str, Any] = {}
    for name, (X, y) in sets.items():
        if len(y) == 0:
            out[name] = {"skipped": "no balanced rows"}
            continue
        rand = [bootstrap_metrics(y, p.decision_function(X), n_boot, seed) for p in random_probes]
        out[name] = {
            "full_probe": bootstrap_metrics(y, probe.decision_function(X), n_boot, seed),
            "h_neurons": bootstrap_metrics(y, h_probe.decision_function(X), n_boot, seed),
            "random": rand,
            "random_mean_accuracy": float(np.mean([r["accuracy"] for r in rand])) if rand else None,
            "random_mean_auroc": float(np.mean([r["auroc"] for r in rand if r["auroc"] is not None])) if rand else None,
        }
    return out
