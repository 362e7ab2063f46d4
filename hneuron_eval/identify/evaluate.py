"""Stage 5: detection accuracy and AUROC with bootstrap CIs, H-neurons against random-neuron controls."""

from __future__ import annotations

from typing import Any

import numpy as np

from hneuron_eval.core.probe import HNeuronProbe, training_rows


def bootstrap_metrics(labels: np.ndarray, scores: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Accuracy (threshold 0 on the logit) and AUROC, each with a 95% percentile bootstrap CI."""
    from sklearn.metrics import roc_auc_score

    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, dtype=np.float64)
    n = len(labels)
    both = len(set(labels.tolist())) == 2
    acc = float(((scores > 0).astype(int) == labels).mean()) if n else float("nan")
    auc = float(roc_auc_score(labels, scores)) if both else None
    rng = np.random.default_rng(seed)
    accs, aucs = [], []
    for _ in range(n_boot if n else 0):
        i = rng.integers(0, n, n)
        accs.append(((scores[i] > 0).astype(int) == labels[i]).mean())
        if len(set(labels[i].tolist())) == 2:
            aucs.append(roc_auc_score(labels[i], scores[i]))
    ci = lambda xs: [float(np.percentile(xs, 2.5)), float(np.percentile(xs, 97.5))] if xs else None  # noqa: E731
    return {"n": n, "n_hallucinated": int(labels.sum()), "accuracy": acc, "accuracy_ci95": ci(accs),
            "auroc": auc, "auroc_ci95": ci(aucs) if both else None}


def subset_probe(features: np.ndarray, train_answer: np.ndarray, train_other: np.ndarray, train_labels: np.ndarray,
                 mode: str, C: float = 1.0) -> HNeuronProbe:
    """The comparison detector: L2 logistic regression on standardised CETT of a fixed neuron set."""
    X, y = training_rows(train_answer, train_other, train_labels, mode)
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
