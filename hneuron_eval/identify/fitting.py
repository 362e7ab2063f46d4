"""Stage 3's choices: the training rows of a contrast, and C chosen on held-out answers."""

from __future__ import annotations

from typing import Any

import numpy as np

from hneuron_eval.core.probe import HNeuronProbe

#: 3-vs-1: hallucinated answer tokens against faithful answer tokens and every response's other tokens
CONTRASTS = ("3-vs-1", "1-vs-1")


def training_rows(
    answer: np.ndarray, other: np.ndarray, labels: np.ndarray, contrast: str
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and labels for a contrast: 3-vs-1 = hallucinated answer tokens vs faithful answer + all other-token rows."""
    if contrast not in CONTRASTS:
        raise ValueError(f"contrast must be one of {CONTRASTS}, got {contrast!r}")
    labels = np.asarray(labels).astype(int)
    if contrast == "1-vs-1":
        return np.asarray(answer), labels
    X = np.concatenate([np.asarray(answer), np.asarray(other)])
    y = np.concatenate([labels, np.zeros(len(labels), dtype=int)])
    return X, y


def select_c(answer: np.ndarray, other: np.ndarray, labels: np.ndarray, grid: list[float], contrast: str,
             val_fraction: float = 0.25, seed: int = 0, class_weight: str | None = None) -> list[dict[str, Any]]:
    """Fit one probe per C on a stratified train part; score it on the held-out part (answer tokens, 1-vs-1)."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels).astype(int)
    rng = np.random.default_rng(seed)
    val = np.zeros(len(labels), dtype=bool)
    for cls in (0, 1):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        val[idx[:max(1, int(round(len(idx) * val_fraction)))]] = True
    fit_idx, val_idx = np.flatnonzero(~val), np.flatnonzero(val)
    X, y = training_rows(answer[fit_idx], other[fit_idx], labels[fit_idx], contrast)
    results = []
    for C in grid:
        probe = HNeuronProbe(C=C, class_weight=class_weight).fit(X, y)
        scores = probe.decision_function(answer[val_idx])
        yv = labels[val_idx]
        results.append({
            "C": C,
            "n_h_neurons": int((probe.coef_ > 0).sum()),
            "n_nonzero": int((probe.coef_ != 0).sum()),
            "val_accuracy": float(((scores > 0).astype(int) == yv).mean()),
            "val_auroc": float(roc_auc_score(yv, scores)) if len(set(yv)) == 2 else None,
            "n_fit": int(len(fit_idx)), "n_val": int(len(val_idx)),
            "h_neuron_index": [int(i) for i in np.flatnonzero(probe.coef_ > 0)],
        })
    return results


def best_c(results: list[dict[str, Any]]) -> float:
    """Best val accuracy (+ task accuracy under suppression, if measured) with an H-neuron; ties -> smaller C."""
    usable = [r for r in results if r["n_h_neurons"] > 0] or results
    score = lambda r: r["val_accuracy"] + (r.get("suppressed_task_accuracy") or 0.0)  # noqa: E731
    return max(usable, key=lambda r: (score(r), -r["C"]))["C"]
